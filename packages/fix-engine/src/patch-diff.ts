/** A `git diff` read back into its files, for the patch guard. */

export interface FileDiff {
  /** The path after the change; `oldPath` differs for a rename or copy. */
  path: string;
  oldPath: string;
  deleted: boolean;
  created: boolean;
  oldMode: string | undefined;
  newMode: string | undefined;
  binary: boolean;
  added: string[];
  removed: string[];
}

/** The files of a `git diff` (as the engine makes it: `--binary`, renames possible, C-quoted odd names). */
export function parseDiff(patch: string): FileDiff[] {
  const files: FileDiff[] = [];
  let current: FileDiff | undefined;
  for (const line of patch.split('\n')) {
    if (line.startsWith('diff --git ')) {
      const [oldPath, newPath] = headerPaths(line.slice('diff --git '.length));
      current = {
        path: newPath,
        oldPath,
        deleted: false,
        created: false,
        oldMode: undefined,
        newMode: undefined,
        binary: false,
        added: [],
        removed: [],
      };
      files.push(current);
      continue;
    }
    if (!current) continue;
    let match: RegExpExecArray | null;
    if ((match = /^deleted file mode (\d+)/.exec(line))) {
      current.deleted = true;
      current.oldMode = match[1];
    } else if ((match = /^new file mode (\d+)/.exec(line))) {
      current.created = true;
      current.newMode = match[1];
    } else if ((match = /^old mode (\d+)/.exec(line))) current.oldMode = match[1];
    else if ((match = /^new mode (\d+)/.exec(line))) current.newMode = match[1];
    else if ((match = /^index [0-9a-f]+\.\.[0-9a-f]+ (\d+)$/.exec(line))) {
      current.oldMode ??= match[1];
      current.newMode ??= match[1];
    } else if ((match = /^(?:rename|copy) from (.+)$/.exec(line))) current.oldPath = unquote(match[1]!);
    else if ((match = /^(?:rename|copy) to (.+)$/.exec(line))) current.path = unquote(match[1]!);
    else if (line === 'GIT binary patch' || /^Binary files .* differ$/.test(line)) current.binary = true;
    else if (line.startsWith('+') && !line.startsWith('+++')) current.added.push(line.slice(1));
    else if (line.startsWith('-') && !line.startsWith('---')) current.removed.push(line.slice(1));
  }
  return files;
}

/** `a/X b/Y`, either side C-quoted when git had to; unquoted sides without a rename are the same path. */
function headerPaths(rest: string): [string, string] {
  const quoted = /^("(?:[^"\\]|\\.)*"|a\/\S*(?: \S+)*?) ("(?:[^"\\]|\\.)*"|b\/.*)$/.exec(rest);
  if (rest.startsWith('"') || rest.endsWith('"')) {
    if (quoted) return [strip(unquote(quoted[1]!), 'a/'), strip(unquote(quoted[2]!), 'b/')];
  }
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half) && rest.slice(2, half) === rest.slice(half + 3))
    return [rest.slice(2, half), rest.slice(half + 3)];
  const split = /^a\/(.+?) b\/(.+)$/.exec(rest);
  return split ? [split[1]!, split[2]!] : [rest, rest];
}

function strip(value: string, prefix: string): string {
  return value.startsWith(prefix) ? value.slice(prefix.length) : value;
}

/** Undoes git's C-style quoting (core.quotePath): escapes and octal bytes, decoded as UTF-8. */
function unquote(value: string): string {
  if (!value.startsWith('"') || !value.endsWith('"')) return value;
  const bytes: number[] = [];
  const body = value.slice(1, -1);
  const named: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, '\\': 92 };
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== '\\') {
      bytes.push(...Buffer.from(body[i]!));
      continue;
    }
    const octal = /^[0-7]{3}/.exec(body.slice(i + 1));
    if (octal) {
      bytes.push(parseInt(octal[0], 8));
      i += 3;
    } else {
      bytes.push(named[body[i + 1]!] ?? body.charCodeAt(i + 1));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

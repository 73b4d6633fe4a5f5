import path from 'node:path';
import { parseMakefile } from './makefile.ts';
import { shellCommands, type Word } from './shell.ts';

/** A program the check runs, found in the command or in a script it calls. */
export interface Invocation {
  /** The program and its arguments, wrappers (`npx`, `env`, `xargs`, `python -m`…) removed. */
  words: Word[];
  /** Where it runs, relative to the repository root ('' for the root). */
  dir: string;
}

export interface CommandPlan {
  invocations: Invocation[];
  /** Programs whose work cannot be seen from here: a binary, a script that cannot be read, a dynamic name. */
  opaque: string[];
}

/** Reads a repository file by its path from the root; undefined when it is missing or unreadable. */
export type RepoReader = (file: string) => Promise<string | undefined>;

const MAX_DEPTH = 4;
const MAX_SCRIPT_BYTES = 64 * 1024;
const MAX_INVOCATIONS = 500;
// Programs that only move data around or decide on it: none names a tool or needs an ecosystem.
const NEUTRAL = new Set(
  '[ [[ test true false : echo printf exit return cd pushd popd set unset export local declare readonly shift read wc grep egrep fgrep sed awk sort uniq head tail cat tee tr cut diff cmp git find ls mkdir rm cp mv touch chmod printenv date sleep dirname basename realpath pwd which command type trap wait xargs env time nice timeout exec'.split(
    ' ',
  ),
);
// Package managers' own commands, which `pnpm X` / `yarn X` mean when X is not a script.
const SCRIPT_RUNNERS = new Set(['npm', 'pnpm', 'yarn', 'bun']);
const MANAGER_COMMANDS = new Set(
  'install i add remove rm ci exec dlx run run-script test publish audit outdated update up upgrade why list ls init create config rebuild link unlink prune store fetch import dedupe patch pack version info view cache workspace workspaces set plugin node bin global x'.split(
    ' ',
  ),
);

/**
 * What a check command runs, read and never executed: the simple commands of the command itself and of the
 * package.json scripts, Makefile targets and shell scripts of the repository it calls, to a few levels.
 */
export async function planCommand(command: string, cwd: string, read: RepoReader): Promise<CommandPlan> {
  const plan: CommandPlan = { invocations: [], opaque: [] };
  await walkScript(command, cwd, read, plan, 0);
  return plan;
}

async function walkScript(
  script: string,
  dir: string,
  read: RepoReader,
  plan: CommandPlan,
  depth: number,
): Promise<void> {
  if (depth > MAX_DEPTH) return;
  let here = dir;
  for (const { words } of await shellCommands(script)) {
    if (plan.invocations.length >= MAX_INVOCATIONS) return;
    const unwrapped = unwrap(words);
    const [program, ...args] = unwrapped;
    if (!program) continue;
    if (!program.literal) {
      plan.opaque.push(program.text);
      continue;
    }
    const name = program.text;
    if (name === 'cd' && args.length === 1 && args[0]!.literal) {
      here = inRepo(here, args[0]!.text) ?? here;
      continue;
    }
    const nested = await expansion(name, args, here, read);
    if (nested === null) {
      plan.opaque.push(name);
      continue;
    }
    if (nested) {
      for (const part of nested) await walkScript(part.script, part.dir, read, plan, depth + 1);
      continue;
    }
    // `pnpm prettier --check .`, `yarn eslint .`: a package's binary when it is not the manager's own command.
    const binary =
      SCRIPT_RUNNERS.has(name) && name !== 'npm' && args[0] && !MANAGER_COMMANDS.has(args[0].text);
    plan.invocations.push({ words: binary ? unwrap(args) : unwrapped, dir: here });
  }
}

/**
 * The scripts a command stands for: a package.json script, Makefile targets, a shell script or `bash -c`.
 * Undefined when it is a program to keep as it is; null when it calls a script that cannot be read.
 */
async function expansion(
  name: string,
  args: Word[],
  dir: string,
  read: RepoReader,
): Promise<{ script: string; dir: string }[] | null | undefined> {
  const literal = args.every((arg) => arg.literal);
  if (SCRIPT_RUNNERS.has(name)) {
    const script = scriptName(name, args);
    if (!script) return undefined;
    const manifest = await read(path.posix.join(dir || '.', 'package.json'));
    const scripts = parseScripts(manifest);
    const body = scripts[script];
    if (body === undefined) return name === 'npm' || args[0]?.text === 'run' ? null : undefined;
    return [scripts[`pre${script}`], body, scripts[`post${script}`]]
      .filter((part) => part !== undefined)
      .map((part) => ({ script: part, dir }));
  }
  if (name === 'make' || name === 'gmake') return literal ? makeTargets(args, dir, read) : null;
  if ((name === 'bash' || name === 'sh') && literal) {
    const inline = args.findIndex((arg) => /^-\w*c\w*$/.test(arg.text));
    if (inline >= 0) return args[inline + 1] ? [{ script: args[inline + 1]!.text, dir }] : undefined;
    const file = args.find((arg) => !arg.text.startsWith('-'));
    return file ? scriptFile(file.text, dir, read) : undefined;
  }
  if ((name === 'source' || name === '.') && args[0]?.literal) return scriptFile(args[0].text, dir, read);
  if (name.includes('/')) return scriptFile(name, dir, read);
  return undefined;
}

/** `npm test`, `npm run lint`, `pnpm lint`, `yarn run check`: the script's name. */
function scriptName(manager: string, args: Word[]): string | undefined {
  const positional = args.filter((arg) => !arg.text.startsWith('-'));
  const [first, second] = positional.map((arg) => arg.text);
  if (!first) return undefined;
  if (first === 'run' || first === 'run-script') return second;
  if (manager === 'npm') return ['test', 't', 'start', 'stop', 'restart'].includes(first) ? first : undefined;
  return first;
}

function parseScripts(manifest: string | undefined): Record<string, string> {
  try {
    const scripts = (JSON.parse(manifest ?? '{}') as { scripts?: unknown }).scripts;
    if (!scripts || typeof scripts !== 'object') return {};
    return Object.fromEntries(Object.entries(scripts).filter(([, body]) => typeof body === 'string'));
  } catch {
    return {};
  }
}

async function makeTargets(
  args: Word[],
  dir: string,
  read: RepoReader,
): Promise<{ script: string; dir: string }[] | null> {
  let where: string | undefined = dir;
  let file: string | undefined;
  const targets: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!.text;
    if (arg === '-C' || arg === '-f') {
      const value = args[++index]?.text ?? '';
      if (arg === '-C') where = where === undefined ? undefined : inRepo(where, value);
      else file = value;
    } else if (arg.startsWith('-C')) where = where === undefined ? undefined : inRepo(where, arg.slice(2));
    else if (!arg.startsWith('-') && !arg.includes('=')) targets.push(arg);
  }
  // A directory outside the repository is not read.
  if (where === undefined) return null;
  const names = file ? [file] : ['GNUmakefile', 'makefile', 'Makefile'];
  for (const name of names) {
    const location = inRepo(where, name);
    const text = location === undefined ? undefined : await read(location);
    if (text === undefined) continue;
    const makefile = parseMakefile(text);
    const scripts: { script: string; dir: string }[] = [];
    const seen = new Set<string>();
    const visit = (target: string) => {
      const rule = makefile.rules.get(target);
      if (!rule || seen.has(target)) return;
      seen.add(target);
      rule.prerequisites.forEach(visit);
      scripts.push(...rule.recipe.map((line) => ({ script: line, dir: where })));
    };
    const wanted = targets.length ? targets : makefile.defaultTarget ? [makefile.defaultTarget] : [];
    wanted.forEach(visit);
    return scripts;
  }
  return null;
}

async function scriptFile(
  file: string,
  dir: string,
  read: RepoReader,
): Promise<{ script: string; dir: string }[] | null> {
  const location = inRepo(dir, file);
  const text = location === undefined ? undefined : await read(location);
  if (text === undefined || text.length > MAX_SCRIPT_BYTES) return null;
  const shebang = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(text);
  const interpreter = path.posix.basename(
    shebang?.[2] && shebang[1]!.endsWith('env') ? shebang[2] : (shebang?.[1] ?? 'sh'),
  );
  if (!['sh', 'bash', 'dash', 'ash', 'ksh', 'zsh'].includes(interpreter)) return null;
  return [{ script: text, dir }];
}

/** A path inside the repository, relative to its root; undefined for one that leaves it. */
function inRepo(dir: string, file: string): string | undefined {
  if (path.posix.isAbsolute(file)) return undefined;
  const joined = path.posix.normalize(path.posix.join(dir || '.', file));
  if (joined === '..' || joined.startsWith('../')) return undefined;
  return joined === '.' ? '' : joined;
}

const PYTHON = /^python(?:\d+(?:\.\d+)?)?$/;

/**
 * The program a wrapper runs: `env A=1 x`, `time x`, `timeout 60 x`, `xargs -0 x`, `npx --yes x`,
 * `npm exec -- x`, `pnpm exec x`, `yarn x`, `node_modules/.bin/x`, `python -m x`, `poetry run x`, `uv run x`.
 */
export function unwrap(words: Word[]): Word[] {
  let rest = words;
  for (let guard = 0; guard < 8 && rest.length > 0; guard++) {
    const name = rest[0]!.text;
    const after = rest.slice(1);
    const skipFlags = (list: Word[], withValue: string[] = []) => {
      let index = 0;
      while (index < list.length && list[index]!.text.startsWith('-')) {
        if (list[index]!.text === '--') return list.slice(index + 1);
        index += withValue.includes(list[index]!.text) ? 2 : 1;
      }
      return list.slice(index);
    };
    if (name === 'env') {
      const command = skipFlags(after, ['-u', '-C', '-S']);
      const at = command.findIndex((word) => !/^\w+=/.test(word.text));
      rest = at < 0 ? [] : command.slice(at);
    } else if (name === 'time' || name === 'nice' || name === 'command' || name === 'exec')
      rest = skipFlags(after);
    else if (name === 'timeout') rest = skipFlags(after).slice(1);
    else if (name === 'xargs') rest = skipFlags(after, ['-I', '-n', '-P', '-d', '-L', '-s', '-E']);
    else if (name === 'npx' || name === 'bunx') rest = skipFlags(after, ['-p', '--package']);
    else if (
      (name === 'npm' || name === 'pnpm' || name === 'yarn') &&
      ['exec', 'dlx'].includes(after[0]?.text ?? '')
    )
      rest = skipFlags(after.slice(1));
    else if (['poetry', 'uv', 'pipenv', 'hatch', 'pdm'].includes(name) && after[0]?.text === 'run')
      rest = skipFlags(after.slice(1));
    else if (PYTHON.test(name) && after[0]?.text === '-m') rest = after.slice(1);
    else break;
  }
  const [program, ...args] = rest;
  if (!program) return [];
  if (program.literal && program.text.includes('/')) {
    const base = path.posix.basename(program.text);
    if (/(^|\/)(node_modules\/\.bin|\.?venv\/bin)\/[^/]+$/.test(program.text))
      return [{ text: base, literal: true }, ...args];
  }
  return rest;
}

/** Whether a program only moves data around (echo, test, git…) and needs no ecosystem. */
export function isNeutral(name: string): boolean {
  return NEUTRAL.has(name);
}

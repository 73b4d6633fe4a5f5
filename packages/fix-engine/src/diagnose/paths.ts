import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Tools print absolute paths inside the sandbox, or paths relative to the directory the command ran in;
 * findings name files relative to the repository root. `cwd` is that directory, relative to the root.
 */
export function repoRelative(file: string, workdir: string, cwd = ''): string {
  let normalized = file.replace(/\\/g, '/');
  if (normalized.startsWith('file://')) normalized = fileURLToPath(normalized);
  if (!path.isAbsolute(normalized)) return path.posix.normalize(path.posix.join(cwd || '.', normalized));
  const relative = path.relative(workdir, normalized);
  return relative.startsWith('..') ? normalized : relative.split(path.sep).join('/');
}

/** Strips ANSI colour codes, which tools print when they believe a terminal is attached. */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex -- ANSI sequences start with ESC by definition.
  return text.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/\r\n?/g, '\n');
}

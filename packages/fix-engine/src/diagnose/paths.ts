import path from 'node:path';

/** Tools print absolute paths inside the sandbox; findings name files relative to the repository. */
export function repoRelative(file: string, workdir: string): string {
  const normalized = file.replace(/\\/g, '/').replace(/^\.\//, '');
  if (!path.isAbsolute(normalized)) return normalized;
  const relative = path.relative(workdir, normalized);
  return relative.startsWith('..') ? normalized : relative;
}

/** Strips ANSI colour codes, which tools print when they believe a terminal is attached. */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex -- ANSI sequences start with ESC by definition.
  return text.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '');
}

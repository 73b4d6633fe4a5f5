import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../../../..');

/** A directory of files for a tool to run on; `linkNodeModules` makes the workspace's tools resolvable. */
export function workspace(files: Record<string, string>, { linkNodeModules = false } = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ci-fixer-diag-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  if (linkNodeModules) symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

export function removeWorkspace(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * For one test file: a maker of workspaces that start from `base`, every one removed after the file's tests.
 */
export function workspaceMaker(
  base: Record<string, string> = {},
  options: { linkNodeModules?: boolean } = {},
): (files: Record<string, string>) => string {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeWorkspace));
  return (files) => {
    const dir = workspace({ ...base, ...files }, options);
    dirs.push(dir);
    return dir;
  };
}

/**
 * Runs a real tool with a clean environment (as a sandbox would) and returns its exit code and combined
 * output. Tool caches go into the workspace so that runs do not share state.
 */
export function runTool(
  cwd: string,
  argv: string[],
  env: Record<string, string> = {},
): { exitCode: number; output: string } {
  const result = spawnSync(argv[0]!, argv.slice(1), {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: path.join(cwd, '.home'),
      LANG: 'C.UTF-8',
      GOCACHE: path.join(os.tmpdir(), 'ci-fixer-test-gocache'),
      GOPATH: path.join(os.tmpdir(), 'ci-fixer-test-gopath'),
      GOTOOLCHAIN: 'local',
      GOFLAGS: '-mod=mod',
      ...pickDefined(['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE']),
      ...env,
    },
  });
  if (result.error) throw result.error;
  return { exitCode: result.status ?? 128, output: `${result.stdout}\n${result.stderr}` };
}

/** Tools from Debian that these tests run; a missing one fails the test with the package to install. */
const DEBIAN_TOOLS: Record<string, string> = {
  black: 'black',
  isort: 'isort',
  flake8: 'flake8',
  mypy: 'mypy',
  pytest: 'python3-pytest',
  python3: 'python3',
  go: 'golang-go (or Go from go.dev)',
  gofmt: 'golang-go (or Go from go.dev)',
};

export function requireTool(name: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { env: { PATH: process.env.PATH ?? '' } });
  if (found.status !== 0) {
    throw new Error(
      `${name} is not installed; these tests run the real tool. Install it: apt-get install -y ${DEBIAN_TOOLS[name] ?? name}`,
    );
  }
}

function pickDefined(names: string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])));
}

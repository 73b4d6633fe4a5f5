import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CorpusCase } from './cases.ts';

/**
 * Writes a case as a git repository under `root` and returns its path. Lockfiles are produced by the real
 * package manager (from the registry, through `npmCache`), so that they are what CI would see.
 */
export function buildCase(corpusCase: CorpusCase, root: string, npmCache: string): string {
  const dir = path.join(root, corpusCase.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const write = (files: Record<string, string>) => {
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), content);
    }
  };
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: path.join(root, '.home'),
    npm_config_cache: npmCache,
    npm_config_store_dir: path.join(npmCache, 'pnpm-store'),
    ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {}),
  };
  write(corpusCase.files);
  if (corpusCase.lock) {
    const lockDir = path.join(dir, corpusCase.lock.dir ?? '.');
    const finalManifest =
      corpusCase.files[path.posix.join(corpusCase.lock.dir ?? '.', 'package.json').replace(/^\.\//, '')];
    if (corpusCase.lock.manifest) writeFileSync(path.join(lockDir, 'package.json'), corpusCase.lock.manifest);
    const argv =
      corpusCase.lock.manager === 'npm'
        ? ['npm', 'install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund']
        : ['pnpm', 'install', '--lockfile-only', '--ignore-scripts'];
    execFileSync(argv[0]!, argv.slice(1), { cwd: lockDir, env, stdio: 'pipe' });
    if (corpusCase.lock.manifest && finalManifest)
      writeFileSync(path.join(lockDir, 'package.json'), finalManifest);
  }
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: dir,
      stdio: 'pipe',
      env: {
        ...env,
        GIT_AUTHOR_NAME: 'corpus',
        GIT_AUTHOR_EMAIL: 'corpus@example.invalid',
        GIT_COMMITTER_NAME: 'corpus',
        GIT_COMMITTER_EMAIL: 'corpus@example.invalid',
      },
    });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', `corpus case ${corpusCase.name}`);
  return dir;
}

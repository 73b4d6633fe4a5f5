import { createHash } from 'node:crypto';
import path from 'node:path';

/**
 * Environment that points every package manager's download cache into `cacheDir`, a directory that
 * outlives the sandbox. The worker gives each repository its own directory, so one tenant's cache is never
 * read by another's job unless an operator configures a shared one.
 */
export function cacheEnvironment(cacheDir: string | undefined): Record<string, string> {
  // Go must never download a toolchain the go.mod asks for: that is not a dependency install.
  const always = { GOTOOLCHAIN: 'local' };
  if (!cacheDir) return always;
  return {
    ...always,
    npm_config_cache: `${cacheDir}/npm`,
    npm_config_store_dir: `${cacheDir}/pnpm-store`,
    YARN_CACHE_FOLDER: `${cacheDir}/yarn`,
    BUN_INSTALL_CACHE_DIR: `${cacheDir}/bun`,
    GOMODCACHE: `${cacheDir}/go/mod`,
    GOCACHE: `${cacheDir}/go/build`,
    PIP_CACHE_DIR: `${cacheDir}/pip`,
  };
}

/**
 * The cache directory for a repository: one per repository (by a hash of its normalized URL), or one for
 * all when the operator chose `shared`.
 */
export function dependencyCacheDir(root: string, repoUrl: string, scope: 'repository' | 'shared'): string {
  if (scope === 'shared') return path.join(root, 'shared');
  const normalized = repoUrl
    .trim()
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
    .toLowerCase();
  return path.join(root, 'repos', createHash('sha256').update(normalized).digest('hex').slice(0, 32));
}

/** How a repository's dependencies are installed without changing its lockfile, chosen from its files. */
export function installCommand(rootFiles: readonly string[]): string[] | undefined {
  const has = (name: string) => rootFiles.includes(name);
  if (!has('package.json')) return undefined;
  if (has('pnpm-lock.yaml')) return ['pnpm', 'install', '--frozen-lockfile'];
  if (has('yarn.lock')) {
    return has('.yarnrc.yml') ? ['yarn', 'install', '--immutable'] : ['yarn', 'install', '--frozen-lockfile'];
  }
  if (has('package-lock.json') || has('npm-shrinkwrap.json')) return ['npm', 'ci', '--no-audit', '--no-fund'];
  return ['npm', 'install', '--no-package-lock', '--no-audit', '--no-fund'];
}

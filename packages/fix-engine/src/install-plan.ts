import path from 'node:path';
import type { Sandbox } from '@ci-fixer/sandbox';
import { PlatformError } from '@ci-fixer/contract';
import { detectToolchains, type Ecosystem, type Toolchain } from './toolchain.ts';

/**
 * Toolchains of the working directory (a package in a monorepo may keep its lockfile at the root), and of
 * those the ones to install: the ecosystems the check uses, or all of them when that cannot be told.
 */
export async function toolchainsToInstall(
  sandbox: Sandbox,
  cwd: string,
  needed: ReadonlySet<Ecosystem> | undefined,
): Promise<{ toolchains: Toolchain[]; install: Toolchain[] }> {
  const view = async (dir: string) => {
    const listing = await sandbox.exec(['ls', '-A', '--', dir || '.']);
    if (listing.exitCode !== 0)
      throw new PlatformError(
        `cannot list the repository (exit ${listing.exitCode}): ${listing.stderr.trim()}`,
      );
    return {
      names: listing.stdout.split('\n').filter(Boolean),
      read: async (name: string) =>
        (await sandbox.readFile(path.posix.join(dir || '.', name)).catch(() => undefined))?.toString(),
    };
  };
  const here = await detectToolchains(await view(cwd));
  const toolchains = here.length > 0 || !cwd ? here : await detectToolchains(await view(''));
  const install = toolchains.filter(
    (toolchain) => toolchain.install && (!needed || needed.has(toolchain.ecosystem)),
  );
  return { toolchains, install };
}

/** A package manager that is not installed runs from the npm registry at the version the repo declares. */
export async function installArgv(
  toolchain: Toolchain,
  onPath: (name: string) => Promise<boolean>,
): Promise<string[]> {
  const [tool, ...args] = toolchain.install!;
  if (tool !== 'yarn' && tool !== 'pnpm') return toolchain.install!;
  if (await onPath(tool)) return toolchain.install!;
  const version = tool === 'yarn' && args.includes('--frozen-lockfile') ? '1' : 'latest';
  return ['npm', 'exec', '--yes', `--package=${tool}@${version}`, '--', tool, ...args];
}

/**
 * Which ecosystems a directory belongs to and how their dependencies are installed without changing the
 * lockfile: chosen from the files there, as CI would.
 */

export type NodePackageManager = 'npm' | 'pnpm' | 'yarn' | 'bun';

export type Ecosystem = 'node' | 'python' | 'go';

export interface Toolchain {
  ecosystem: Ecosystem;
  /** The install command, or none when the ecosystem needs no install step here. */
  install?: string[];
  packageManager?: NodePackageManager;
  /** The module path in go.mod, which `go test` prints instead of directories. */
  goModule?: string;
}

export interface DirectoryView {
  names: readonly string[];
  /** A file's text, or undefined when it cannot be read. */
  read(name: string): Promise<string | undefined>;
}

export async function detectToolchains(dir: DirectoryView): Promise<Toolchain[]> {
  const toolchains: Toolchain[] = [];
  const node = await detectNode(dir);
  if (node) toolchains.push(node);
  const python = await detectPython(dir);
  if (python) toolchains.push(python);
  if (dir.names.includes('go.mod')) {
    const goMod = (await dir.read('go.mod')) ?? '';
    const module = /^module\s+(\S+)/m.exec(goMod)?.[1];
    toolchains.push({
      ecosystem: 'go',
      ...(module ? { goModule: module } : {}),
      // Only a module with requirements has anything to download.
      ...(/^require\b/m.test(goMod) ? { install: ['go', 'mod', 'download'] } : {}),
    });
  }
  return toolchains;
}

/** The install command for a Node package (kept for callers of the first version of the engine). */
export function installCommand(
  rootFiles: readonly string[],
  packageManagerField?: string,
): string[] | undefined {
  if (!rootFiles.includes('package.json')) return undefined;
  return nodeInstall(rootFiles, packageManagerField).install;
}

async function detectNode(dir: DirectoryView): Promise<Toolchain | undefined> {
  if (!dir.names.includes('package.json')) return undefined;
  let field: string | undefined;
  try {
    const manifest = JSON.parse((await dir.read('package.json')) ?? '{}') as { packageManager?: unknown };
    if (typeof manifest.packageManager === 'string') field = manifest.packageManager;
  } catch {
    // A broken package.json fails the install, which reports it.
  }
  return { ecosystem: 'node', ...nodeInstall(dir.names, field) };
}

function nodeInstall(
  names: readonly string[],
  packageManagerField: string | undefined,
): { packageManager: NodePackageManager; install: string[] } {
  const has = (name: string) => names.includes(name);
  const declared = /^(npm|pnpm|yarn|bun)@(\d+)/.exec(packageManagerField ?? '');
  const manager: NodePackageManager =
    (declared?.[1] as NodePackageManager | undefined) ??
    (has('pnpm-lock.yaml')
      ? 'pnpm'
      : has('yarn.lock')
        ? 'yarn'
        : has('bun.lock') || has('bun.lockb')
          ? 'bun'
          : 'npm');
  switch (manager) {
    case 'pnpm':
      return {
        packageManager: manager,
        install: has('pnpm-lock.yaml') ? ['pnpm', 'install', '--frozen-lockfile'] : ['pnpm', 'install'],
      };
    case 'yarn': {
      const berry = has('.yarnrc.yml') || Number(declared?.[2] ?? 1) >= 2;
      return {
        packageManager: manager,
        install: berry ? ['yarn', 'install', '--immutable'] : ['yarn', 'install', '--frozen-lockfile'],
      };
    }
    case 'bun':
      return { packageManager: manager, install: ['bun', 'install', '--frozen-lockfile'] };
    case 'npm':
      return {
        packageManager: manager,
        install:
          has('package-lock.json') || has('npm-shrinkwrap.json')
            ? ['npm', 'ci', '--no-audit', '--no-fund']
            : ['npm', 'install', '--no-package-lock', '--no-audit', '--no-fund'],
      };
  }
}

async function detectPython(dir: DirectoryView): Promise<Toolchain | undefined> {
  const markers = ['pyproject.toml', 'setup.py', 'setup.cfg', 'requirements.txt', 'tox.ini', 'pytest.ini'];
  if (!markers.some((name) => dir.names.includes(name))) return undefined;
  const requirements = dir.names.includes('requirements.txt')
    ? await dir.read('requirements.txt')
    : undefined;
  const needed = (requirements ?? '')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
  return {
    ecosystem: 'python',
    // Into the sandbox's home (`--user`), never into an interpreter the host shares.
    ...(needed.length > 0
      ? {
          install: [
            'python3',
            '-m',
            'pip',
            'install',
            '--user',
            '--disable-pip-version-check',
            '--no-input',
            '-r',
            'requirements.txt',
          ],
        }
      : {}),
  };
}

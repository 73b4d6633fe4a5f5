import { describe, expect, it } from 'vitest';
import { detectToolchains } from '../src/toolchain.ts';

const dir = (files: Record<string, string>) => ({
  names: Object.keys(files),
  read: async (name: string) => files[name],
});

describe('detectToolchains', () => {
  it.each([
    [{ 'package.json': '{}', 'package-lock.json': '' }, ['npm', 'ci', '--no-audit', '--no-fund']],
    [{ 'package.json': '{}' }, ['npm', 'install', '--no-package-lock', '--no-audit', '--no-fund']],
    [{ 'package.json': '{}', 'pnpm-lock.yaml': '' }, ['pnpm', 'install', '--frozen-lockfile']],
    [{ 'package.json': '{}', 'yarn.lock': '' }, ['yarn', 'install', '--frozen-lockfile']],
    [{ 'package.json': '{}', 'yarn.lock': '', '.yarnrc.yml': '' }, ['yarn', 'install', '--immutable']],
    [
      { 'package.json': '{"packageManager":"yarn@4.5.0"}', 'yarn.lock': '' },
      ['yarn', 'install', '--immutable'],
    ],
    [{ 'package.json': '{"packageManager":"pnpm@10.34.9"}' }, ['pnpm', 'install']],
    [{ 'package.json': '{}', 'bun.lock': '' }, ['bun', 'install', '--frozen-lockfile']],
  ])('node: %j installs with %j', async (files, install) => {
    expect(await detectToolchains(dir(files))).toEqual([
      expect.objectContaining({ ecosystem: 'node', install }),
    ]);
  });

  it('python: requirements are installed into the sandbox user site, comments ignored', async () => {
    const [python] = await detectToolchains(dir({ 'requirements.txt': '# pinned\nrequests==2.32.3\n' }));
    expect(python?.install).toEqual(
      expect.arrayContaining(['pip', 'install', '--user', '-r', 'requirements.txt']),
    );
    expect(
      await detectToolchains(dir({ 'requirements.txt': '# nothing yet\n', 'pyproject.toml': '' })),
    ).toEqual([{ ecosystem: 'python' }]);
  });

  it('go: module path, and a download only when there are requirements', async () => {
    expect(await detectToolchains(dir({ 'go.mod': 'module example.com/a\n\ngo 1.22\n' }))).toEqual([
      { ecosystem: 'go', goModule: 'example.com/a' },
    ]);
    const [go] = await detectToolchains(
      dir({ 'go.mod': 'module example.com/a\n\nrequire github.com/google/uuid v1.6.0\n' }),
    );
    expect(go?.install).toEqual(['go', 'mod', 'download']);
  });

  it('several ecosystems side by side', async () => {
    const found = await detectToolchains(
      dir({ 'package.json': '{}', 'pyproject.toml': '', 'go.mod': 'module m\n' }),
    );
    expect(found.map((t) => t.ecosystem)).toEqual(['node', 'python', 'go']);
  });
});

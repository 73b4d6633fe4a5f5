/** The layering docs/architecture.md describes, read from the package graph and the sources themselves. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const WORKSPACE = ['apps', 'packages'].flatMap((dir) =>
  readdirSync(path.join(ROOT, dir)).map((name) => path.join(dir, name)),
);

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
}
const manifests = new Map(
  WORKSPACE.map((dir) => {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, dir, 'package.json'), 'utf8')) as Manifest;
    return [manifest.name, manifest];
  }),
);

/** Every package a workspace package reaches through its dependencies, itself included. */
function reachable(name: string, seen = new Set<string>()): Set<string> {
  if (seen.has(name)) return seen;
  seen.add(name);
  for (const dependency of Object.keys(manifests.get(name)?.dependencies ?? {})) reachable(dependency, seen);
  return seen;
}

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((entry) => {
    const relative = path.join(dir, entry);
    if (statSync(path.join(ROOT, relative)).isDirectory())
      return entry === 'node_modules' ? [] : sources(relative);
    return relative.endsWith('.ts') ? [relative] : [];
  });
}

const importsOf = (file: string) =>
  [...readFileSync(path.join(ROOT, file), 'utf8').matchAll(/(?:from|import\()\s*'([^']+)'/g)].map(
    (match) => match[1]!,
  );

describe('package graph', () => {
  it('keeps the fix engine away from Redis: no queue package, bullmq or ioredis, directly or through a package', () => {
    const redisBound = ['bullmq', 'ioredis', '@ci-fixer/queue'];
    expect([...reachable('@ci-fixer/fix-engine')].filter((name) => redisBound.includes(name))).toEqual([]);
    const imports = sources('packages/fix-engine/src').flatMap(importsOf);
    expect(imports).toContain('@ci-fixer/contract');
    expect(imports.filter((spec) => redisBound.includes(spec))).toEqual([]);
  });

  it('has no package that imports an app', () => {
    for (const dir of WORKSPACE.filter((dir) => dir.startsWith('packages/'))) {
      const appImports = sources(path.join(dir, 'src'))
        .flatMap(importsOf)
        .filter((spec) => /(^|\/)apps\//.test(spec) || /^@ci-fixer\/(api|worker|cli)$/.test(spec));
      expect(appImports, dir).toEqual([]);
    }
  });

  it('reaches sandbox drivers only through the factory outside packages/sandbox', () => {
    const concrete = WORKSPACE.filter((dir) => dir !== 'packages/sandbox')
      .flatMap((dir) => sources(path.join(dir, 'src')))
      .filter((file) =>
        importsOf(file).some((spec) => /^@ci-fixer\/sandbox\/(local|docker|kubernetes)$/.test(spec)),
      );
    expect(concrete).toEqual([]);
  });

  it('keeps every source file of the apps and packages under 350 lines', () => {
    const long = WORKSPACE.flatMap((dir) => sources(path.join(dir, 'src')))
      .map((file) => [file, readFileSync(path.join(ROOT, file), 'utf8').split('\n').length - 1] as const)
      .filter(([, lines]) => lines > 350);
    expect(long).toEqual([]);
  });
});

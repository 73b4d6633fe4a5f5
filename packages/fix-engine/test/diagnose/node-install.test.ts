import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { diagnose } from '../../src/diagnose/index.ts';
import { runTool, workspaceMaker } from '../helpers/real-tools.ts';

// Real npm, pnpm and yarn against the npm registry, with tiny exact-version dependencies.
const make = workspaceMaker();
const cache = path.join(os.tmpdir(), 'ci-fixer-test-npm-cache');
const env = { npm_config_cache: cache, npm_config_store_dir: `${cache}/pnpm-store`, CI: 'true' };
const manifest = (dependencies: Record<string, string>) =>
  `${JSON.stringify({ name: 'fixture', version: '1.0.0', private: true, dependencies }, null, 2)}\n`;
const quiet = ['--no-audit', '--no-fund'];

describe('lockfile drift', () => {
  it('npm ci with a dependency missing from package-lock.json', () => {
    const dir = make({ 'package.json': manifest({ 'is-number': '7.0.0' }) });
    expect(runTool(dir, ['npm', 'install', '--package-lock-only', ...quiet], env).exitCode).toBe(0);
    writeFileSync(`${dir}/package.json`, manifest({ 'is-number': '7.0.0', 'is-odd': '3.0.1' }));
    const run = runTool(dir, ['npm', 'ci', ...quiet], env);
    expect(run.exitCode).not.toBe(0);
    expect(diagnose(run.output, dir).findings).toEqual([
      {
        category: 'dependency',
        tool: 'npm',
        file: 'package-lock.json',
        rule: 'lockfile-drift',
        message: 'package-lock.json is out of date with package.json',
      },
    ]);
  });

  it('pnpm install --frozen-lockfile with an outdated pnpm-lock.yaml', () => {
    const dir = make({ 'package.json': manifest({ 'is-number': '7.0.0' }) });
    expect(runTool(dir, ['pnpm', 'install', '--lockfile-only'], env).exitCode).toBe(0);
    writeFileSync(`${dir}/package.json`, manifest({ 'is-number': '7.0.0', 'is-odd': '3.0.1' }));
    const run = runTool(dir, ['pnpm', 'install', '--frozen-lockfile'], env);
    expect(run.exitCode).not.toBe(0);
    expect(diagnose(run.output, dir).findings).toEqual([
      expect.objectContaining({ tool: 'pnpm', file: 'pnpm-lock.yaml', rule: 'lockfile-drift' }),
    ]);
  });

  it('yarn 1 install --frozen-lockfile with an outdated yarn.lock', () => {
    const yarn = ['npm', 'exec', '--yes', '--package=yarn@1.22.22', '--', 'yarn'];
    const dir = make({ 'package.json': manifest({ 'is-number': '7.0.0' }) });
    expect(runTool(dir, [...yarn, 'install', '--ignore-scripts'], env).exitCode).toBe(0);
    writeFileSync(`${dir}/package.json`, manifest({ 'is-number': '7.0.0', 'is-odd': '3.0.1' }));
    const run = runTool(dir, [...yarn, 'install', '--frozen-lockfile'], env);
    expect(run.exitCode).not.toBe(0);
    expect(diagnose(run.output, dir).findings).toEqual([
      expect.objectContaining({ tool: 'yarn', file: 'yarn.lock', rule: 'lockfile-drift' }),
    ]);
  });
});

describe('dependency conflicts', () => {
  it('npm ERESOLVE names the conflicting peer dependency', () => {
    const dir = make({ 'package.json': manifest({ react: '17.0.2', 'react-dom': '18.2.0' }) });
    const run = runTool(dir, ['npm', 'install', '--package-lock-only', ...quiet], env);
    expect(run.exitCode).not.toBe(0);
    expect(diagnose(run.output, dir).findings).toEqual([
      {
        category: 'dependency',
        tool: 'npm',
        file: 'package.json',
        rule: 'ERESOLVE',
        message: 'dependency tree cannot be resolved: peer react@"^18.2.0" from react-dom@18.2.0',
      },
    ]);
  });
});

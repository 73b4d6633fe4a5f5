import path from 'node:path';
import type { Diagnosis, Finding } from '@ci-fixer/contract';
import type { Recipe } from './types.ts';

export type { Recipe } from './types.ts';

const filesWhere = (diagnosis: Diagnosis, match: (finding: Finding) => boolean) => [
  ...new Set(diagnosis.findings.filter((finding) => finding.file && match(finding)).map((f) => f.file!)),
];
const formatFiles = (tool: string) => (diagnosis: Diagnosis) =>
  filesWhere(diagnosis, (finding) => finding.tool === tool && finding.category === 'format');
const inCwd = (cwd: string, file: string) => path.posix.join(cwd || '.', file);

export const prettierWrite: Recipe = {
  name: 'prettier-write',
  executables: ['node_modules/.bin/prettier'],
  tool: 'prettier',
  claims: formatFiles('prettier'),
  command: (prettier, files, flags) => [prettier, '--write', ...flags, '--', ...files],
};

export const eslintFix: Recipe = {
  name: 'eslint-fix',
  executables: ['node_modules/.bin/eslint'],
  tool: 'eslint',
  claims: (diagnosis) => filesWhere(diagnosis, (f) => f.tool === 'eslint' && f.category === 'lint'),
  command: (eslint, files, flags) => [eslint, '--fix', ...flags, '--', ...files],
};

export const isortApply: Recipe = {
  name: 'isort',
  executables: ['.venv/bin/isort', 'venv/bin/isort', 'isort'],
  tool: 'isort',
  claims: formatFiles('isort'),
  command: (isort, files, flags) => [isort, ...flags, '--', ...files],
};

export const blackApply: Recipe = {
  name: 'black',
  executables: ['.venv/bin/black', 'venv/bin/black', 'black'],
  tool: 'black',
  claims: formatFiles('black'),
  command: (black, files, flags) => [black, '--quiet', ...flags, '--', ...files],
};

export const gofmtWrite: Recipe = {
  name: 'gofmt-write',
  executables: ['gofmt'],
  tool: 'gofmt',
  claims: formatFiles('gofmt'),
  command: (gofmt, files, flags) => [gofmt, '-w', ...flags, '--', ...files],
};

/**
 * A go.mod that lacks a requirement, a go.sum that lacks its checksums, or either one untidy (`go mod tidy
 * -diff`, `go mod verify`): `go mod tidy` writes both.
 */
const GO_MOD_RULES = new Set(['missing-go-module', 'missing-go-sum', 'go-mod-tidy']);
export const goModTidy: Recipe = {
  name: 'go-mod-tidy',
  executables: ['go'],
  claims: (diagnosis, cwd) =>
    diagnosis.findings.some((f) => f.rule !== undefined && GO_MOD_RULES.has(f.rule))
      ? [inCwd(cwd, 'go.mod'), inCwd(cwd, 'go.sum')]
      : [],
  command: (go) => [go, 'mod', 'tidy'],
};

const lockfileDrift = (tool: string) => (diagnosis: Diagnosis) =>
  filesWhere(diagnosis, (f) => f.tool === tool && f.rule === 'lockfile-drift');

/** Brings package-lock.json in line with package.json without installing or running scripts. */
export const npmLockfile: Recipe = {
  name: 'npm-lockfile',
  executables: ['npm'],
  claims: lockfileDrift('npm'),
  command: (npm) => [npm, 'install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'],
};

export const pnpmLockfile: Recipe = {
  name: 'pnpm-lockfile',
  executables: ['pnpm'],
  claims: lockfileDrift('pnpm'),
  command: (pnpm) => [pnpm, 'install', '--lockfile-only', '--no-frozen-lockfile', '--ignore-scripts'],
};

/**
 * In the order they are tried: the dependency graph first (nothing else runs without it), imports before
 * the formatter that would otherwise fight over them, formatting before lint autofixes.
 */
export const RECIPES: readonly Recipe[] = [
  npmLockfile,
  pnpmLockfile,
  goModTidy,
  isortApply,
  blackApply,
  gofmtWrite,
  prettierWrite,
  eslintFix,
];

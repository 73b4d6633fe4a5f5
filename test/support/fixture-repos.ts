import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const NODE_TOOLS = path.resolve(import.meta.dirname, '../fixtures/node-tools');

export interface FixtureRepo {
  path: string;
  sha: string;
}

/** Kinds of broken (or not) repositories the end-to-end tests submit, each with its failing command. */
export const FIXTURES = {
  prettier: {
    command: 'npm run format:check',
    files: { 'src/index.js': 'export const answer = {value:42,\n    unit:   "none"}\n' },
  },
  eslint: {
    command: 'npm run lint',
    files: {
      'src/index.js':
        'export function total(items) {\n  let sum = 0;\n  let count = items.length;\n  for (const item of items) sum += item;\n  return sum / count;\n}\n',
    },
  },
  passing: {
    command: 'npm run format:check',
    files: { 'src/index.js': 'export const answer = { value: 42 };\n' },
  },
  failingTest: {
    command: 'npm test',
    files: {
      'src/sum.js': 'export const sum = (a, b) => a - b;\n',
      'test/sum.test.js':
        "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { sum } from '../src/sum.js';\n\ntest('sum adds', () => {\n  assert.equal(sum(2, 3), 5);\n});\n",
    },
  },
} as const;

export type FixtureKind = keyof typeof FIXTURES;

const ESLINT_CONFIG = `export default [
  { files: ['**/*.js'], rules: { 'prefer-const': 'error', 'no-var': 'error' } },
];
`;

/** git in `cwd` as the fixtures' author, whatever the machine's git identity; returns trimmed stdout. */
export function fixtureGit(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Fixture',
      GIT_AUTHOR_EMAIL: 'fixture@example.com',
      GIT_COMMITTER_NAME: 'Fixture',
      GIT_COMMITTER_EMAIL: 'fixture@example.com',
    },
  }).trim();
}

/** A real git repository with one commit: the shared package.json and lockfile plus the fixture's files. */
export function createFixtureRepo(
  kind: FixtureKind,
  parent = mkdtempSync(path.join(os.tmpdir(), 'cif-repo-')),
): FixtureRepo {
  const dir = path.join(parent, kind);
  mkdirSync(dir, { recursive: true });
  cpSync(NODE_TOOLS, dir, { recursive: true });
  writeFileSync(path.join(dir, '.gitignore'), 'node_modules/\n');
  writeFileSync(path.join(dir, 'eslint.config.js'), ESLINT_CONFIG);
  writeFileSync(path.join(dir, '.prettierrc.json'), '{ "singleQuote": true }\n');
  for (const [file, content] of Object.entries(FIXTURES[kind].files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), content);
  }
  const git = (...args: string[]) => fixtureGit(dir, ...args);
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-qm', `fixture: ${kind}`);
  return { path: dir, sha: git('rev-parse', 'HEAD') };
}

/** `dir` made a git repository with one commit holding `files` (and `executable` marked so). */
export function commitFiles(dir: string, files: Record<string, string>, executable: string[] = []): string {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  for (const name of executable) chmodSync(path.join(dir, name), 0o755);
  fixtureGit(dir, 'init', '-q', '-b', 'main');
  fixtureGit(dir, 'add', '-A');
  fixtureGit(dir, 'commit', '-qm', 'fixture');
  return dir;
}

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixtureGit, type FixtureRepo } from './fixture-repos.ts';

/**
 * Go repositories for tests that must not reach a registry: gofmt and go come with the machine's
 * toolchain, so a sandbox without network fixes and checks them.
 */
export const GO_FIXTURES = {
  /** Unformatted: the gofmt recipe fixes it. */
  formatter: {
    files: { 'calc.go': 'package calc\nfunc  Add(a,b int) int {return a+b}\n' },
    command: 'test -z "$(gofmt -l .)" || { echo "code is not formatted"; exit 1; }',
    outcome: 'fixed',
  },
  /** Formatted: the check passes, twice. */
  clean: {
    files: { 'calc.go': 'package calc\n\nfunc Add(a, b int) int { return a + b }\n' },
    command: 'test -z "$(gofmt -l .)" || { echo "code is not formatted"; exit 1; }',
    outcome: 'not_reproducible',
  },
  /** A wrong result a test catches: no recipe fixes logic. */
  logic: {
    files: {
      'calc.go': 'package calc\n\nfunc Add(a, b int) int { return a - b }\n',
      'calc_test.go':
        'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(2, 3) != 5 {\n\t\tt.Fatal("Add(2, 3) != 5")\n\t}\n}\n',
    },
    command: 'go test ./...',
    outcome: 'unfixable',
  },
} as const;

export type GoFixtureKind = keyof typeof GO_FIXTURES;

export function createGoRepo(
  kind: GoFixtureKind,
  parent = mkdtempSync(path.join(os.tmpdir(), 'cif-go-repo-')),
): FixtureRepo {
  const dir = path.join(parent, kind);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'go.mod'), 'module example.com/fixture\n\ngo 1.21\n');
  for (const [file, content] of Object.entries(GO_FIXTURES[kind].files))
    writeFileSync(path.join(dir, file), content);
  fixtureGit(dir, 'init', '-q', '-b', 'main');
  fixtureGit(dir, 'add', '-A');
  fixtureGit(dir, 'commit', '-qm', `fixture: ${kind}`);
  return { path: dir, sha: fixtureGit(dir, 'rev-parse', 'HEAD') };
}

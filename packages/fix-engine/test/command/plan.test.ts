import { describe, expect, it } from 'vitest';
import { planCommand } from '../../src/command/invocations.ts';
import { ecosystemsOf, toolChecks } from '../../src/command/tools.ts';

// The real bash grammar (tree-sitter, WebAssembly) on command shapes taken from public CI workflows; the
// repository's files are given as a map, as the sandbox would return them.
const plan = (command: string, files: Record<string, string> = {}, cwd = '') =>
  planCommand(command, cwd, (file) => Promise.resolve(files[file]));
const checksOf = async (command: string, files: Record<string, string> = {}, cwd = '') =>
  toolChecks(await plan(command, files, cwd)).map(({ tool, dir, flags, paths }) => [tool, dir, flags, paths]);

describe('the tools a check command runs', () => {
  it.each([
    ['test -z "$(gofmt -s -l .)"', [['gofmt', '', ['-s'], ['.']]]],
    [
      '[ "$(gofmt -l . | wc -l)" -eq 0 ] || { echo "code is not formatted"; exit 1; }',
      [['gofmt', '', [], ['.']]],
    ],
    ["find . -name '*.go' -not -path './vendor/*' | xargs gofmt -s -l", [['gofmt', '', ['-s'], []]]],
    ['go fmt ./... && git diff --exit-code', [['gofmt', '', [], ['.']]]],
    ['go mod tidy -diff', [['go mod', '', [], []]]],
    ['npx --no prettier --check "src/**/*.ts"', [['prettier', '', [], ['src/**/*.ts']]]],
    [
      'pnpm exec prettier --list-different --config .prettierrc.json .',
      [['prettier', '', ['--config', '.prettierrc.json'], ['.']]],
    ],
    ['python -m black --check -l 100 --diff src tests', [['black', '', ['-l', '100'], ['src', 'tests']]]],
    ['poetry run isort --check-only --diff --profile=black .', [['isort', '', ['--profile=black'], ['.']]]],
    [
      'env PYTHONPATH=. black --check --skip-string-normalization app',
      [['black', '', ['--skip-string-normalization'], ['app']]],
    ],
  ])('%s', async (command, expected) => {
    expect(await checksOf(command)).toEqual(expected);
  });

  it('reads a Makefile: variables, prerequisites, `make -C`, recipe prefixes', async () => {
    const makefile = [
      'GOFMT ?= gofmt',
      'PY_DIRS := src tests',
      '.PHONY: lint fmt-check',
      'lint: fmt-check',
      '\t@black --check $(PY_DIRS)',
      'fmt-check:',
      '\t-@test -z "$$($(GOFMT) -s -l .)" || \\',
      '\t  (echo "run make fmt"; exit 1)',
      '',
    ].join('\n');
    expect(await checksOf('make -C backend lint', { 'backend/Makefile': makefile })).toEqual([
      ['gofmt', 'backend', ['-s'], ['.']],
      ['black', 'backend', [], ['src', 'tests']],
    ]);
  });

  it('reads package.json scripts (with their pre hooks) and the shell scripts they call', async () => {
    const files = {
      'web/package.json': JSON.stringify({
        scripts: { prelint: 'prettier --check .', lint: './scripts/lint.sh', test: 'vitest run' },
      }),
      'web/scripts/lint.sh': '#!/usr/bin/env bash\nset -euo pipefail\ncd src\nblack --check .\n',
    };
    expect(await checksOf('npm run lint', files, 'web')).toEqual([
      ['prettier', 'web', [], ['.']],
      ['black', 'web/src', [], ['.']],
    ]);
  });

  it('never reads outside the repository', async () => {
    const read: string[] = [];
    await planCommand('bash ../../etc/check.sh; make -C /etc; sh /tmp/x.sh', '', (file) => {
      read.push(file);
      return Promise.resolve(undefined);
    });
    expect(read).toEqual([]);
  });
});

describe('the ecosystems a check needs', () => {
  it.each([
    ['test -z "$(gofmt -l .)"', ['go']],
    ['go fmt ./... && git diff --exit-code', ['go']],
    ['isort --check-only . && black --check .', ['python']],
    ['npx prettier --check . && npx eslint .', ['node']],
    ['if [ -e .done ]; then echo "Error"; exit 1; fi', []],
  ])('%s', async (command, expected) => {
    expect([...(ecosystemsOf(await plan(command)) ?? ['every one'])].sort()).toEqual(expected);
  });

  it.each([
    ['./gradlew check', 'a script it cannot read'],
    ['$LINTER --check .', 'a program named at run time'],
    ['cargo fmt --check', 'a tool of an ecosystem it does not install'],
    ['make lint', 'a Makefile that is not there'],
    ['eval "$CHECK"', 'a command made at run time'],
  ])('every ecosystem for %s (%s)', async (command) => {
    expect(ecosystemsOf(await plan(command))).toBeUndefined();
  });
});

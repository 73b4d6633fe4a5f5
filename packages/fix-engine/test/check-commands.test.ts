import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LocalDriver } from '@ci-fixer/sandbox/local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitFiles } from '../../../test/support/fixture-repos.ts';
import { fixInSandbox } from '../src/fix-in-sandbox.ts';
import { requireTool } from './helpers/real-tools.ts';

// Check commands as real CI scripts write them, through the real pipeline: real git repositories, a real
// LocalDriver sandbox without network, and the real gofmt, go, black and isort of this machine.
const work = mkdtempSync(path.join(os.tmpdir(), 'ci-fixer-check-commands-'));
const driver = new LocalDriver({ root: path.join(work, 'sandboxes') });
beforeAll(() => ['go', 'gofmt', 'black', 'isort'].forEach(requireTool));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const GO_MOD = 'module example.com/fixture\n\ngo 1.21\n';
const UNFORMATTED_GO = 'package calc\nfunc  Add(a,b int) int {return a+b}\n';
// Formatted, but `gofmt -s` simplifies the composite literal: only a check with -s fails on it.
const UNSIMPLIFIED_GO =
  'package calc\n\ntype Point struct{ X, Y int }\n\nvar Points = []Point{Point{1, 2}, Point{3, 4}}\n';
// Sorted for isort's default profile, not for its black profile (and black reformats it).
const ISORT_DEFAULT = [
  'import os',
  'from collections import (ChainMap, Counter, OrderedDict, defaultdict, deque,',
  '                         namedtuple)',
  '',
  'print(os, OrderedDict, defaultdict, namedtuple, Counter, ChainMap, deque)',
  '',
].join('\n');

let count = 0;
function repo(files: Record<string, string>, executable: string[] = []): string {
  return commitFiles(path.join(work, `repo-${++count}`), files, executable);
}

async function fix(dir: string, command: string) {
  return fixInSandbox(
    driver,
    { repo: { url: pathToFileURL(dir).href }, command },
    { owner: 'check-commands-test', egress: [], commandTimeoutMs: 120_000 },
  );
}

/** The fixed repository: the patch applied to a fresh clone and committed, then the command run by hand. */
function checkPatchOnClone(dir: string, patch: string, command: string): void {
  const clone = mkdtempSync(path.join(work, 'clone-'));
  const run = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { cwd: clone, stdio: 'pipe' });
  run(['git', 'clone', '-q', dir, '.']);
  writeFileSync(path.join(work, 'fix.patch'), patch);
  run(['git', 'apply', path.join(work, 'fix.patch')]);
  run(['git', '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-qam', 'fix']);
  run(['bash', '-c', command]);
}

describe('checks that do not name their findings: the command names the tool', () => {
  it.each([
    ['a test of gofmt -l', 'test -z "$(gofmt -l .)" || { echo "code is not formatted"; exit 1; }', {}],
    ['a count compared with 0', '[ "$(gofmt -l . | wc -l)" -eq 0 ]', {}],
    [
      'a Makefile target',
      'make check',
      {
        Makefile:
          'GOFMT ?= gofmt\n\n.PHONY: check\ncheck: fmt-check\n\nfmt-check:\n\t@test -z "$$($(GOFMT) -l .)"\n',
      },
    ],
    [
      'a package.json script calling a shell script',
      'npm run lint',
      {
        'package.json': '{ "name": "x", "private": true, "scripts": { "lint": "bash scripts/lint.sh" } }\n',
        'scripts/lint.sh':
          '#!/bin/bash\nset -eu\nif [ -n "$(gofmt -l .)" ]; then\n  echo "Go code is not formatted"\n  exit 1\nfi\n',
      },
    ],
  ])('%s', async (_name, command, files) => {
    const dir = repo({ 'go.mod': GO_MOD, 'calc/calc.go': UNFORMATTED_GO, ...files });
    const result = await fix(dir, command);
    expect(result.outcome, result.reason).toBe('fixed');
    expect(result.strategy).toBe('gofmt-write');
    expect(result.diagnosis?.summary).toBe('1 finding from `gofmt -l -- .`, which the command runs');
    expect(result.diagnosis?.findings.map((f) => [f.tool, f.file])).toEqual([['gofmt', 'calc/calc.go']]);
    checkPatchOnClone(dir, result.patch!, command);
  });

  it('go mod tidy -diff: go.sum with a line the module does not need', async () => {
    const unused = 'example.com/unused v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n';
    const dir = repo({ 'go.mod': GO_MOD, 'go.sum': unused, 'main.go': 'package main\n\nfunc main() {}\n' });
    const result = await fix(dir, 'go mod tidy -diff');
    expect(result.outcome, result.reason).toBe('fixed');
    expect(result.strategy).toBe('go-mod-tidy');
    expect(result.patch).toContain('-example.com/unused v1.0.0');
  });
});

describe('checks that fix while they fail', () => {
  it('go fmt ./... && git diff --exit-code: the tree the check left is the fix', async () => {
    const dir = repo({ 'go.mod': GO_MOD, 'calc/calc.go': UNFORMATTED_GO });
    const command = 'go fmt ./... && git diff --exit-code';
    const result = await fix(dir, command);
    expect(result.outcome, result.reason).toBe('fixed');
    expect(result.strategy).toBe('check-output');
    expect(result.patch).toContain('+func Add(a, b int) int { return a + b }');
    checkPatchOnClone(dir, result.patch!, command);
  });

  it('never takes a protected file the check rewrote', async () => {
    // The check "formats" the workflow too: the candidate is refused and nothing else fixes it.
    const dir = repo(
      {
        '.github/workflows/ci.yml': 'on: push\n',
        'format.sh': '#!/bin/sh\necho "# formatted" >> .github/workflows/ci.yml\n',
      },
      ['format.sh'],
    );
    const result = await fix(dir, './format.sh && git diff --exit-code');
    expect(result.outcome).toBe('unfixable');
    expect(result.patch).toBeNull();
    expect(result.reason).toMatch(/patch touches protected path \.github\/workflows\/ci\.yml|protected path/);
  });
});

describe('a failed dependency install', () => {
  // No network in the sandbox: pip cannot reach any package index, as behind a private index that is down.
  const requirements = { 'requirements.txt': 'black==23.1.0\n' };

  it('still runs the check, and fixes it with the formatter the worker has', async () => {
    const dir = repo({ ...requirements, 'app.py': 'def main( ):\n    return 1\n' });
    const result = await fix(dir, 'black --check .');
    expect(result.outcome, result.reason).toBe('fixed');
    expect(result.strategy).toBe('black');
    expect(result.reason).toMatch(
      /\(dependencies could not be installed: python3 -m pip install .*-r requirements\.txt: /,
    );
  });

  it('is not_reproducible when the check passes anyway', async () => {
    const dir = repo({ ...requirements, 'app.py': 'def main():\n    return 1\n' });
    const result = await fix(dir, 'black --check .');
    expect(result.outcome, result.reason).toBe('not_reproducible');
    expect(result.reason).toMatch(
      /^the command passed twice in the sandbox \(dependencies could not be installed: /,
    );
  });
});

describe("the check's tool configuration reaches the fix", () => {
  it('gofmt -s: the fix simplifies too', async () => {
    const dir = repo({ 'go.mod': GO_MOD, 'calc/points.go': UNSIMPLIFIED_GO });
    const command = 'out=$(gofmt -s -l .); if [ -n "$out" ]; then echo "$out"; exit 1; fi';
    const result = await fix(dir, command);
    expect(result.outcome, result.reason).toBe('fixed');
    expect(result.patch).toContain('+var Points = []Point{{1, 2}, {3, 4}}');
    expect(result.steps.some((step) => step.command.startsWith('gofmt -w -s -- '))).toBe(true);
  });

  it('isort --profile black on the command line, then black', async () => {
    const dir = repo({ 'app.py': ISORT_DEFAULT });
    const command = 'isort --check-only --profile black . && black --check .';
    const result = await fix(dir, command);
    expect(result.outcome, result.reason).toBe('fixed');
    expect(result.patch).toContain(
      '+from collections import ChainMap, Counter, OrderedDict, defaultdict, deque, namedtuple',
    );
    checkPatchOnClone(dir, result.patch!, command);
  });

  it('isort settings in pyproject.toml are read from the repository', async () => {
    const dir = repo({ 'pyproject.toml': '[tool.isort]\nprofile = "black"\n', 'app.py': ISORT_DEFAULT });
    const command =
      'isort --check-only --diff . >/dev/null 2>&1 || { echo "imports are not sorted"; exit 1; }';
    const result = await fix(dir, command);
    expect(result.outcome, result.reason).toBe('fixed');
    expect(result.strategy).toBe('isort');
    checkPatchOnClone(dir, result.patch!, 'black --check . && isort --check-only .');
  });
});

describe('honest reasons for killed commands', () => {
  it('a process make started, killed by SIGKILL', async () => {
    const dir = repo({ Makefile: "check:\n\t@echo checking\n\tsh -c 'kill -KILL $$$$'\n" });
    const result = await fix(dir, 'make check');
    expect(result.outcome).toBe('unfixable');
    expect(result.diagnosis?.summary).toMatch(
      /^a process the command started was killed \(SIGKILL: from inside the sandbox, at no limit the sandbox reported\): make: \*\*\* \[Makefile:3: check\] Killed$/,
    );
    expect(result.reason).toBe(result.diagnosis?.summary);
  });
});

describe('only what the check needs is installed', () => {
  it('a gofmt check in a repository that also has a Node lockfile runs no npm ci', async () => {
    const dir = repo({
      'go.mod': GO_MOD,
      'calc/calc.go': UNFORMATTED_GO,
      'package.json': '{ "name": "x", "version": "1.0.0", "dependencies": { "is-number": "7.0.0" } }\n',
      'package-lock.json': JSON.stringify({
        name: 'x',
        version: '1.0.0',
        lockfileVersion: 3,
        requires: true,
        packages: {
          '': { name: 'x', version: '1.0.0', dependencies: { 'is-number': '7.0.0' } },
          'node_modules/is-number': {
            version: '7.0.0',
            resolved: 'https://registry.invalid/is-number/-/is-number-7.0.0.tgz',
            integrity: 'sha512-AAAA',
          },
        },
      }),
    });
    const result = await fix(dir, 'test -z "$(gofmt -l .)"');
    expect(result.outcome, result.reason).toBe('fixed');
    expect(result.steps.map((step) => step.command).filter((c) => c.startsWith('npm'))).toEqual([]);
  });
});

import type { FindingCategory, Outcome } from '@ci-fixer/contract';
import type { SandboxLimits } from '@ci-fixer/sandbox';

/**
 * Broken repositories, generated from these definitions (see build.ts): JS/TS, Python and Go, one or more
 * per finding category, some that no deterministic recipe can fix. `expected` is what a correct engine
 * without an LLM agent answers.
 */
export interface CorpusCase {
  name: string;
  language: 'js' | 'python' | 'go';
  /** The category of the failure as CI shows it. */
  category: FindingCategory;
  expected: Outcome;
  command: string;
  workingDirectory?: string;
  verifyCommand?: string;
  files: Record<string, string>;
  /**
   * A lockfile generated at build time with the real package manager, from `manifest` (the package.json at
   * lock time) when given: a manifest that differs from the final one is lockfile drift.
   */
  lock?: { manager: 'npm' | 'pnpm'; dir?: string; manifest?: string };
  /** Runs inside `pnpm test` (kept small: the whole subset must stay under about two minutes). */
  quick?: boolean;
  /** The class of real CI check it stands for (issue 13), reported per class by `pnpm eval`. */
  checkClass?: CheckClass;
  /** What the reason must say, for cases where an honest reason is the point. */
  reason?: RegExp;
  /** A step the engine must not run for this check (an install of an ecosystem the check does not use). */
  forbiddenStep?: RegExp;
  /** Sandbox limits for this case (smaller than the defaults, so that a case that hits one is quick). */
  limits?: SandboxLimits;
}

export const CHECK_CLASSES = {
  unnamed: 'checks that do not name their findings',
  'fixes-itself': 'checks that fix while they fail',
  'install-fails': 'a dependency install that fails',
  'tool-config': "the check's tool configuration",
  killed: 'killed commands',
  'scoped-install': 'installing only what the check needs',
} as const;
export type CheckClass = keyof typeof CHECK_CLASSES;

const pkg = (
  devDependencies: Record<string, string> = {},
  dependencies: Record<string, string> = {},
  extra = {},
) =>
  `${JSON.stringify({ name: 'fixture', version: '1.0.0', private: true, type: 'module', ...extra, dependencies, devDependencies }, null, 2)}\n`;
const PRETTIER = { prettier: '3.10.1' };
const ESLINT = { eslint: '10.15.0' };
const TYPESCRIPT = { typescript: '6.0.3' };
const eslintConfig =
  "export default [{ files: ['**/*.js'], rules: { 'prefer-const': 'error', 'no-unused-vars': 'error', 'no-var': 'error' } }];\n";
const goMod = 'module example.com/fixture\n\ngo 1.21\n';
const isortCfg = '[settings]\nprofile = black\n';
const conftest = '# puts the repository root on sys.path for the tests\n';
const gofmtCheck = 'out=$(gofmt -l .); if [ -n "$out" ]; then echo "$out"; exit 1; fi';
const unformattedGo = 'package calc\nfunc  Add(a,b int) int {return a+b}\n';
// gofmt-clean, but `gofmt -s` simplifies the composite literal.
const unsimplifiedGo =
  'package calc\n\ntype Point struct{ X, Y int }\n\nvar Points = []Point{Point{1, 2}, Point{3, 4}}\n';
// Sorted for isort's default profile but not for its black profile, which black agrees with.
const isortDefaultOrder =
  'import os\nfrom collections import (ChainMap, Counter, OrderedDict, defaultdict, deque,\n                         namedtuple)\n\nprint(os, OrderedDict, defaultdict, namedtuple, Counter, ChainMap, deque)\n';
// A package index that cannot be reached, as a private index behind a VPN or during an outage.
const unreachableIndex = '--index-url https://pypi.internal.invalid/simple\nblack==23.1.0\n';

export const CASES: CorpusCase[] = [
  // ---- JavaScript / TypeScript
  {
    name: 'js-prettier',
    language: 'js',
    category: 'format',
    expected: 'fixed',
    quick: true,
    command: 'npx prettier --check .',
    lock: { manager: 'npm' },
    files: {
      'package.json': pkg(PRETTIER),
      'src/index.js': 'export function add(a,b){return a+b}\n',
      'src/ok.js': 'export const ok = 1;\n',
    },
  },
  {
    name: 'js-prettier-workspace',
    language: 'js',
    category: 'format',
    expected: 'fixed',
    command: 'npx prettier --check src',
    workingDirectory: 'packages/web',
    lock: { manager: 'npm', dir: 'packages/web' },
    files: {
      'README.md': '# monorepo\n',
      'packages/web/package.json': pkg(PRETTIER),
      'packages/web/src/app.js': "const greeting = {text:'hi'}\nexport default greeting\n",
    },
  },
  {
    name: 'js-prettier-syntax-error',
    language: 'js',
    category: 'build',
    expected: 'unfixable',
    command: 'npx prettier --check .',
    lock: { manager: 'npm' },
    files: { 'package.json': pkg(PRETTIER), 'src/broken.js': 'export const x = 1 +;\n' },
  },
  {
    name: 'js-prettier-verify-fails',
    language: 'js',
    category: 'format',
    expected: 'unfixable',
    command: 'npx prettier --check src',
    verifyCommand: 'node --test',
    lock: { manager: 'npm' },
    files: {
      'package.json': pkg(PRETTIER),
      'src/sum.js': 'export const sum = (a,b) => a-b\n',
      'test/sum.test.js':
        "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { sum } from '../src/sum.js';\n\ntest('sum', () => assert.equal(sum(1, 2), 3));\n",
    },
  },
  {
    name: 'js-eslint-fixable',
    language: 'js',
    category: 'lint',
    expected: 'fixed',
    command: 'npx eslint .',
    lock: { manager: 'npm' },
    files: {
      'package.json': pkg(ESLINT),
      'eslint.config.js': eslintConfig,
      'src/a.js':
        'let total = 0;\nexport function double(n) {\n  var result = n * 2;\n  return result + total;\n}\n',
    },
  },
  {
    name: 'js-eslint-unused',
    language: 'js',
    category: 'lint',
    expected: 'unfixable',
    command: 'npx eslint .',
    lock: { manager: 'npm' },
    files: {
      'package.json': pkg(ESLINT),
      'eslint.config.js': eslintConfig,
      'src/a.js': 'export function f(a, unused) {\n  const helper = 1;\n  return a;\n}\n',
    },
  },
  {
    name: 'js-prettier-and-eslint',
    language: 'js',
    category: 'format',
    expected: 'fixed',
    command: 'npx prettier --check . && npx eslint .',
    lock: { manager: 'npm' },
    files: {
      'package.json': pkg({ ...PRETTIER, ...ESLINT }),
      'eslint.config.js': eslintConfig,
      'src/a.js': 'export function double(n) {\n  let result = n*2\n  return result\n}\n',
    },
  },
  {
    name: 'ts-type-error',
    language: 'js',
    category: 'type',
    expected: 'unfixable',
    command: 'npx tsc --noEmit --strict src/index.ts',
    lock: { manager: 'npm' },
    files: {
      'package.json': pkg(TYPESCRIPT),
      'src/index.ts': 'export function len(s: string): number {\n  return s;\n}\n',
    },
  },
  {
    name: 'js-node-test-failure',
    language: 'js',
    category: 'test',
    expected: 'unfixable',
    quick: true,
    command: 'node --test',
    files: {
      'package.json': pkg(),
      'src/sum.js': 'export const sum = (a, b) => a - b;\n',
      'test/sum.test.js':
        "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { sum } from '../src/sum.js';\n\ntest('sum', () => assert.equal(sum(1, 2), 3));\n",
    },
  },
  {
    name: 'js-npm-lockfile-drift',
    language: 'js',
    category: 'dependency',
    expected: 'fixed',
    quick: true,
    command: 'node index.js',
    lock: { manager: 'npm', manifest: pkg({}, { 'is-number': '7.0.0' }) },
    files: {
      'package.json': pkg({}, { 'is-number': '7.0.0', 'is-odd': '3.0.1' }),
      'index.js': "import isOdd from 'is-odd';\nif (!isOdd(3)) process.exit(1);\n",
    },
  },
  {
    name: 'js-pnpm-lockfile-drift',
    language: 'js',
    category: 'dependency',
    expected: 'fixed',
    command: 'node index.js',
    lock: {
      manager: 'pnpm',
      manifest: pkg({}, { 'is-number': '7.0.0' }, { packageManager: 'pnpm@10.34.9' }),
    },
    files: {
      'package.json': pkg(
        {},
        { 'is-number': '7.0.0', 'is-odd': '3.0.1' },
        { packageManager: 'pnpm@10.34.9' },
      ),
      'index.js': "import isOdd from 'is-odd';\nif (!isOdd(3)) process.exit(1);\n",
    },
  },
  {
    name: 'js-eresolve',
    language: 'js',
    category: 'dependency',
    expected: 'unfixable',
    command: 'node -e "import(\'react-dom\')"',
    files: { 'package.json': pkg({}, { react: '17.0.2', 'react-dom': '18.2.0' }) },
  },
  {
    name: 'js-missing-package',
    language: 'js',
    category: 'dependency',
    expected: 'unfixable',
    command: 'node index.js',
    files: { 'package.json': pkg(), 'index.js': "import pad from 'left-pad';\nconsole.log(pad('x', 3));\n" },
  },
  {
    name: 'js-missing-file',
    language: 'js',
    category: 'build',
    expected: 'unfixable',
    command: 'node index.js',
    files: { 'package.json': pkg(), 'index.js': "import { helper } from './lib/helper.js';\nhelper();\n" },
  },
  {
    name: 'js-passes',
    language: 'js',
    category: 'unknown',
    expected: 'not_reproducible',
    quick: true,
    command: 'node --test',
    files: {
      'package.json': pkg(),
      'test/ok.test.js': "import { test } from 'node:test';\n\ntest('ok', () => {});\n",
    },
  },
  {
    name: 'js-flaky',
    language: 'js',
    category: 'unknown',
    expected: 'unfixable',
    // Passes the first time, fails every time after: the second run catches it, and no recipe fixes it.
    command: 'if [ -e .ran-once ]; then echo "Error: intermittent failure"; exit 1; fi; touch .ran-once',
    files: { 'package.json': pkg(), '.gitignore': '.ran-once\n' },
  },
  {
    name: 'js-unknown-script-failure',
    language: 'js',
    category: 'unknown',
    expected: 'unfixable',
    command: 'node build.js',
    files: { 'package.json': pkg(), 'build.js': "throw new Error('the release notes are missing');\n" },
  },

  // ---- Python
  {
    name: 'py-black',
    language: 'python',
    category: 'format',
    expected: 'fixed',
    quick: true,
    command: 'black --check .',
    files: { 'pkg/__init__.py': '', 'pkg/calc.py': "def add(a,b):\n    return a+b\nNAMES = [ 'a','b' ]\n" },
  },
  {
    name: 'py-isort',
    language: 'python',
    category: 'format',
    expected: 'fixed',
    command: 'isort --check-only .',
    files: { '.isort.cfg': isortCfg, 'app.py': 'import sys\nimport os\n\nprint(os.sep, sys.argv)\n' },
  },
  {
    name: 'py-isort-then-black',
    language: 'python',
    category: 'format',
    expected: 'fixed',
    quick: true,
    command: 'isort --check-only . && black --check .',
    files: {
      '.isort.cfg': isortCfg,
      'app.py': 'import sys\nimport os\n\ndef main( ):\n    print(os.sep, sys.argv)\n',
    },
  },
  {
    name: 'py-black-syntax-error',
    language: 'python',
    category: 'build',
    expected: 'unfixable',
    command: 'black --check .',
    files: { 'app.py': 'def main(:\n    pass\n' },
  },
  {
    name: 'py-flake8',
    language: 'python',
    category: 'lint',
    expected: 'unfixable',
    quick: true,
    command: 'flake8 .',
    files: { 'app.py': 'import os\n\n\ndef main():\n    return 1\n' },
  },
  {
    name: 'py-mypy',
    language: 'python',
    category: 'type',
    expected: 'unfixable',
    command: 'mypy app.py',
    files: { 'app.py': 'def name(x: int) -> str:\n    return x\n' },
  },
  {
    name: 'py-pytest-failure',
    language: 'python',
    category: 'test',
    expected: 'unfixable',
    command: 'pytest -q',
    files: {
      'conftest.py': conftest,
      'calc.py': 'def add(a, b):\n    return a - b\n',
      'tests/test_calc.py': 'from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n',
    },
  },
  {
    name: 'py-missing-module',
    language: 'python',
    category: 'dependency',
    expected: 'unfixable',
    command: 'pytest -q',
    files: {
      'conftest.py': conftest,
      'tests/test_io.py':
        'import yaml_loader_missing\n\n\ndef test_load():\n    assert yaml_loader_missing\n',
    },
  },
  {
    name: 'py-passes',
    language: 'python',
    category: 'unknown',
    expected: 'not_reproducible',
    command: 'pytest -q',
    files: { 'conftest.py': conftest, 'tests/test_ok.py': 'def test_ok():\n    assert True\n' },
  },

  // ---- Go
  {
    name: 'go-gofmt',
    language: 'go',
    category: 'format',
    expected: 'fixed',
    quick: true,
    command: gofmtCheck,
    files: { 'go.mod': goMod, 'calc/calc.go': 'package calc\nfunc  Add(a,b int) int {return a+b}\n' },
  },
  {
    name: 'go-gofmt-diff',
    language: 'go',
    category: 'format',
    expected: 'fixed',
    command: 'out=$(gofmt -d .); if [ -n "$out" ]; then echo "$out"; exit 1; fi',
    files: { 'go.mod': goMod, 'main.go': 'package main\nimport "fmt"\nfunc main() { fmt.Println( "hi") }\n' },
  },
  {
    name: 'go-mod-tidy',
    language: 'go',
    category: 'dependency',
    expected: 'fixed',
    quick: true,
    command: 'go build ./...',
    files: {
      'go.mod': goMod,
      'id/id.go':
        'package id\n\nimport "github.com/google/uuid"\n\nfunc New() string { return uuid.NewString() }\n',
    },
  },
  {
    name: 'go-vet',
    language: 'go',
    category: 'lint',
    expected: 'unfixable',
    command: 'go vet ./...',
    files: {
      'go.mod': goMod,
      'show/show.go': 'package show\n\nimport "fmt"\n\nfunc Show(n int) { fmt.Printf("%s\\n", n) }\n',
    },
  },
  {
    name: 'go-build-error',
    language: 'go',
    category: 'build',
    expected: 'unfixable',
    command: 'go build ./...',
    files: {
      'go.mod': goMod,
      'calc/calc.go': 'package calc\n\nfunc Add(a, b int) int {\n\treturn "sum"\n}\n',
    },
  },
  {
    name: 'go-test-failure',
    language: 'go',
    category: 'test',
    expected: 'unfixable',
    command: 'go test ./...',
    files: {
      'go.mod': goMod,
      'calc/calc.go': 'package calc\n\nfunc Add(a, b int) int { return a - b }\n',
      'calc/calc_test.go':
        'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("Add(1, 2) != 3")\n\t}\n}\n',
    },
  },
  {
    name: 'go-passes',
    language: 'go',
    category: 'unknown',
    expected: 'not_reproducible',
    command: 'go test ./...',
    files: {
      'go.mod': goMod,
      'calc/calc.go': 'package calc\n\nfunc Add(a, b int) int { return a + b }\n',
      'calc/calc_test.go':
        'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("bad")\n\t}\n}\n',
    },
  },

  // ---- Issue 13: check commands as real CI writes them
  {
    name: 'go-gofmt-test-z',
    language: 'go',
    category: 'format',
    checkClass: 'unnamed',
    expected: 'fixed',
    command: 'test -z "$(gofmt -l .)"',
    files: { 'go.mod': goMod, 'calc/calc.go': unformattedGo },
  },
  {
    name: 'go-gofmt-count',
    language: 'go',
    category: 'format',
    checkClass: 'unnamed',
    expected: 'fixed',
    command: 'if [ "$(gofmt -s -l . | wc -l)" -gt 0 ]; then exit 1; fi',
    files: { 'go.mod': goMod, 'calc/calc.go': unformattedGo },
  },
  {
    name: 'go-gofmt-make-echo',
    language: 'go',
    category: 'format',
    checkClass: 'unnamed',
    expected: 'fixed',
    command: 'make lint',
    files: {
      'go.mod': goMod,
      'calc/calc.go': unformattedGo,
      Makefile:
        '.PHONY: lint fmt-check\nlint: fmt-check\n\tgo vet ./...\n\nfmt-check:\n\t@if [ -n "$$(gofmt -l .)" ]; then echo "code is not formatted, run make fmt"; exit 1; fi\n',
    },
  },
  {
    name: 'go-mod-tidy-diff',
    language: 'go',
    category: 'dependency',
    checkClass: 'unnamed',
    expected: 'fixed',
    command: 'go mod tidy -diff',
    files: {
      'go.mod': goMod,
      'go.sum': 'example.com/unused v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n',
      'main.go': 'package main\n\nfunc main() {}\n',
    },
  },
  {
    name: 'js-prettier-script-quiet',
    language: 'js',
    category: 'format',
    checkClass: 'unnamed',
    expected: 'fixed',
    command: 'npm run format:check',
    lock: { manager: 'npm' },
    files: {
      'package.json': pkg(
        PRETTIER,
        {},
        {
          scripts: {
            'format:check': "prettier --check . > /dev/null 2>&1 || (echo 'code is not formatted' && exit 1)",
          },
        },
      ),
      'src/index.js': 'export function add(a,b){return a+b}\n',
    },
  },
  {
    name: 'py-black-quiet',
    language: 'python',
    category: 'format',
    checkClass: 'unnamed',
    expected: 'fixed',
    command: 'black --check --quiet .',
    files: { 'app.py': "def add(a,b):\n    return a+b\nNAMES = [ 'a','b' ]\n" },
  },
  {
    name: 'py-isort-script',
    language: 'python',
    category: 'format',
    checkClass: 'unnamed',
    expected: 'fixed',
    command: 'bash scripts/lint.sh',
    files: {
      '.isort.cfg': isortCfg,
      'app.py': 'import sys\nimport os\n\nprint(os.sep, sys.argv)\n',
      'scripts/lint.sh':
        '#!/usr/bin/env bash\nset -euo pipefail\nif ! isort --check-only --quiet . >/dev/null 2>&1; then\n  echo "imports are not sorted; run isort ."\n  exit 1\nfi\n',
    },
  },
  {
    name: 'go-gofmt-clean-test-fails',
    language: 'go',
    category: 'test',
    checkClass: 'unnamed',
    expected: 'unfixable',
    command: 'test -z "$(gofmt -l .)" && go test ./...',
    files: {
      'go.mod': goMod,
      'calc/calc.go': 'package calc\n\nfunc Add(a, b int) int { return a - b }\n',
      'calc/calc_test.go':
        'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("Add(1, 2) != 3")\n\t}\n}\n',
    },
  },
  {
    name: 'go-fmt-git-diff',
    language: 'go',
    category: 'format',
    checkClass: 'fixes-itself',
    expected: 'fixed',
    command: 'go fmt ./... && git diff --exit-code',
    files: { 'go.mod': goMod, 'calc/calc.go': unformattedGo },
  },
  {
    name: 'js-prettier-write-git-diff',
    language: 'js',
    category: 'format',
    checkClass: 'fixes-itself',
    expected: 'fixed',
    command: 'npx prettier --write . && git diff --quiet',
    lock: { manager: 'npm' },
    files: { 'package.json': pkg(PRETTIER), 'src/index.js': 'export function add(a,b){return a+b}\n' },
  },
  {
    name: 'py-black-git-diff',
    language: 'python',
    category: 'format',
    checkClass: 'fixes-itself',
    expected: 'fixed',
    command: 'black . && git diff --exit-code',
    files: { 'app.py': 'def main( ):\n    return 1\n' },
  },
  {
    name: 'go-writes-then-test-fails',
    language: 'go',
    category: 'test',
    checkClass: 'fixes-itself',
    expected: 'unfixable',
    // A generator that rewrites a tracked file, then a logic bug: what the command wrote is no fix.
    command: 'printf "package calc\\n\\nconst Version = \\"dev\\"\\n" > calc/version.go && go test ./...',
    files: {
      'go.mod': goMod,
      'calc/version.go': 'package calc\n\nconst Version = "1.0.0"\n',
      'calc/calc.go': 'package calc\n\nfunc Add(a, b int) int { return a - b }\n',
      'calc/calc_test.go':
        'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("Add(1, 2) != 3")\n\t}\n}\n',
    },
  },
  {
    name: 'py-index-down-black',
    language: 'python',
    category: 'format',
    checkClass: 'install-fails',
    expected: 'fixed',
    command: 'black --check .',
    reason: /\(dependencies could not be installed: python3 -m pip install /,
    files: { 'requirements.txt': unreachableIndex, 'app.py': 'def main( ):\n    return 1\n' },
  },
  {
    name: 'py-index-down-passes',
    language: 'python',
    category: 'unknown',
    checkClass: 'install-fails',
    expected: 'not_reproducible',
    command: 'black --check .',
    reason: /^the command passed twice in the sandbox \(dependencies could not be installed: /,
    files: { 'requirements.txt': unreachableIndex, 'app.py': 'def main():\n    return 1\n' },
  },
  {
    name: 'go-module-unreachable-gofmt',
    language: 'go',
    category: 'format',
    checkClass: 'install-fails',
    expected: 'fixed',
    command: 'test -z "$(gofmt -l .)"',
    reason: /\(dependencies could not be installed: go mod download: /,
    files: {
      'go.mod': `${goMod}\nrequire example.invalid/private v1.0.0\n`,
      'calc/calc.go': unformattedGo,
    },
  },
  {
    name: 'go-gofmt-simplify',
    language: 'go',
    category: 'format',
    checkClass: 'tool-config',
    expected: 'fixed',
    command: 'out=$(gofmt -s -l .); if [ -n "$out" ]; then echo "$out"; exit 1; fi',
    files: { 'go.mod': goMod, 'calc/points.go': unsimplifiedGo },
  },
  {
    name: 'py-isort-profile-flag',
    language: 'python',
    category: 'format',
    checkClass: 'tool-config',
    expected: 'fixed',
    command: 'isort --check-only --profile black . && black --check .',
    files: { 'app.py': isortDefaultOrder },
  },
  {
    name: 'py-isort-pyproject',
    language: 'python',
    category: 'format',
    checkClass: 'tool-config',
    expected: 'fixed',
    command: 'isort --check-only --diff . && black --check --diff .',
    files: {
      'pyproject.toml': '[tool.isort]\nprofile = "black"\n\n[tool.black]\nline-length = 100\n',
      'app.py': isortDefaultOrder,
    },
  },
  {
    name: 'py-black-line-length-flag',
    language: 'python',
    category: 'format',
    checkClass: 'tool-config',
    expected: 'fixed',
    command: 'black --check --line-length 100 .',
    files: {
      'app.py':
        'def describe(first_name, last_name, city):\n    return "{} {} lives in {}, and has lived there for years".format(first_name, last_name, city)\nNAMES = [ "a","b" ]\n',
    },
  },
  {
    name: 'killed-make-sigkill',
    language: 'go',
    category: 'unknown',
    checkClass: 'killed',
    expected: 'unfixable',
    command: 'make test',
    reason:
      /^a process the command started was killed \(SIGKILL: from inside the sandbox, at no limit the sandbox reported\)/,
    files: { 'go.mod': goMod, Makefile: "test:\n\t@echo running\n\tsh -c 'kill -KILL $$$$'\n" },
  },
  {
    name: 'killed-bash-sigkill',
    language: 'js',
    category: 'unknown',
    checkClass: 'killed',
    expected: 'unfixable',
    command: 'node -e "process.kill(process.pid, \'SIGKILL\')"',
    reason: /^the command was killed \(exit 137\b/,
    files: { 'package.json': pkg() },
  },
  {
    name: 'go-gofmt-beside-node',
    language: 'go',
    category: 'format',
    checkClass: 'scoped-install',
    expected: 'fixed',
    command: 'test -z "$(gofmt -l .)"',
    forbiddenStep: /^npm /,
    lock: { manager: 'npm' },
    files: {
      'go.mod': goMod,
      'calc/calc.go': unformattedGo,
      'package.json': pkg({}, { 'is-number': '7.0.0' }),
    },
  },
  {
    name: 'py-black-beside-go',
    language: 'python',
    category: 'format',
    checkClass: 'scoped-install',
    expected: 'fixed',
    command: 'black --check .',
    forbiddenStep: /^go mod download/,
    files: {
      'go.mod': `${goMod}\nrequire github.com/google/uuid v1.6.0\n`,
      'app.py': 'def main( ):\n    return 1\n',
    },
  },

  // ---- Issue 13, second round: the classes' missing ecosystems and their negative controls
  {
    name: 'js-eslint-script-quiet',
    quick: true,
    language: 'js',
    category: 'lint',
    checkClass: 'unnamed',
    expected: 'fixed',
    // A lint script that hides eslint's report and prints its own line, as many package.json scripts do.
    command: 'npm run lint',
    lock: { manager: 'npm' },
    files: {
      'package.json': pkg(
        ESLINT,
        {},
        { scripts: { lint: 'eslint --max-warnings 0 src > /dev/null || (echo "lint failed" && exit 1)' } },
      ),
      'eslint.config.js': eslintConfig,
      'src/a.js':
        'let total = 0;\nexport function double(n) {\n  var result = n * 2;\n  return result + total;\n}\n',
    },
  },
  {
    name: 'js-eslint-script-quiet-unused',
    language: 'js',
    category: 'lint',
    checkClass: 'unnamed',
    expected: 'unfixable',
    // The same hidden report, but for a rule `--fix` cannot fix: the probe finds it, no recipe fixes it.
    command: 'npm run lint',
    reason: /^no deterministic recipe fits this failure \(1 finding from `.*eslint -f json src`/,
    lock: { manager: 'npm' },
    files: {
      'package.json': pkg(
        ESLINT,
        {},
        { scripts: { lint: 'eslint src > /dev/null || (echo "lint failed" && exit 1)' } },
      ),
      'eslint.config.js': eslintConfig,
      'src/a.js': 'export function f(a) {\n  const helper = 1;\n  return a;\n}\n',
    },
  },
  {
    name: 'go-gofmt-test-z-clean',
    language: 'go',
    category: 'unknown',
    checkClass: 'unnamed',
    expected: 'not_reproducible',
    command: 'test -z "$(gofmt -l .)"',
    files: { 'go.mod': goMod, 'calc/calc.go': 'package calc\n\nfunc Add(a, b int) int { return a + b }\n' },
  },
  {
    name: 'py-black-git-diff-clean',
    language: 'python',
    category: 'unknown',
    checkClass: 'fixes-itself',
    expected: 'not_reproducible',
    command: 'black . && git diff --exit-code',
    files: { 'app.py': 'def main():\n    return 1\n' },
  },
  {
    name: 'js-install-fails-check-cannot-run',
    language: 'js',
    category: 'dependency',
    checkClass: 'install-fails',
    expected: 'unfixable',
    // A dependency on a private registry that cannot be reached: nothing is installed, so prettier is not
    // there and the check cannot run. The reason says why.
    command: 'npx --no-install prettier --check .',
    reason: /^dependencies could not be installed: npm install --no-package-lock --no-audit --no-fund: /,
    files: {
      'package.json': pkg(PRETTIER, { 'private-lib': 'https://npm.internal.invalid/private-lib-1.0.0.tgz' }),
      'src/index.js': 'export function add(a,b){return a+b}\n',
    },
  },
  {
    name: 'js-prettier-config-flag',
    language: 'js',
    category: 'format',
    checkClass: 'tool-config',
    expected: 'fixed',
    // The CI's own configuration, named on the command line: the fix must use it too.
    command: 'npx prettier --check --config config/prettier.ci.json src',
    lock: { manager: 'npm' },
    files: {
      'package.json': pkg(PRETTIER),
      'config/prettier.ci.json': '{ "singleQuote": true, "semi": false }\n',
      'src/index.js': 'export const greeting = "hello";\n',
    },
  },
  {
    name: 'py-isort-profile-test-fails',
    language: 'python',
    category: 'test',
    checkClass: 'tool-config',
    expected: 'unfixable',
    // Imports sorted for the profile the check names, then a logic bug: the profile is no reason to touch it.
    command: 'isort --check-only --profile black . && pytest -q',
    reason: /^no deterministic recipe fits this failure \(1 pytest finding\)$/,
    files: {
      'conftest.py': conftest,
      'calc.py': 'def add(a, b):\n    return a - b\n',
      'test_calc.py': 'from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n',
    },
  },
  {
    name: 'killed-pytest-memory',
    quick: true,
    language: 'python',
    category: 'unknown',
    checkClass: 'killed',
    expected: 'unfixable',
    // A test that needs more memory than the sandbox has: the kernel kills pytest at the memory limit.
    command: 'pytest -q',
    limits: { memoryBytes: 256 * 1_048_576 },
    reason: /^the command was killed: memory limit of 256 MiB reached \(SANDBOX_MEMORY_MB\); exit 137$/,
    files: {
      'conftest.py': conftest,
      'test_big.py':
        'def test_big_table():\n    table = bytearray(1024 << 20)\n    assert len(table) == 1024 << 20\n',
    },
  },
  {
    name: 'js-prettier-beside-python',
    language: 'js',
    category: 'format',
    checkClass: 'scoped-install',
    expected: 'fixed',
    command: 'npx prettier --check .',
    forbiddenStep: /pip install/,
    lock: { manager: 'npm' },
    files: {
      'package.json': pkg(PRETTIER),
      'requirements.txt': unreachableIndex,
      'src/index.js': 'export function add(a,b){return a+b}\n',
    },
  },
];

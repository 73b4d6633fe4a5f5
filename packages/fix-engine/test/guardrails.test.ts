import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkGuardrails } from '../src/guardrails.ts';

// Patches produced by real git from real edits, as the engine produces them.
const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function patchOf(files: Record<string, string>, change: (dir: string) => void): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ci-fixer-guard-'));
  dirs.push(dir);
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], {
      cwd: dir,
      encoding: 'utf8',
    });
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'base');
  change(dir);
  git('add', '-A');
  return git('diff', '--cached', '--binary', 'HEAD');
}
const edit = (file: string, content: string) => (dir: string) => writeFileSync(path.join(dir, file), content);

describe('guardrails', () => {
  const test = "import { test } from 'node:test';\ntest('sum', () => {});\n";

  it('accept a plain code fix', () => {
    const patch = patchOf(
      { 'src/sum.js': 'export const sum = (a, b) => a - b;\n' },
      edit('src/sum.js', 'export const sum = (a, b) => a + b;\n'),
    );
    expect(checkGuardrails(patch)).toEqual([]);
  });

  it('reject deleting a test file', () => {
    const patch = patchOf({ 'test/sum.test.js': test }, (dir) =>
      unlinkSync(path.join(dir, 'test/sum.test.js')),
    );
    expect(checkGuardrails(patch)).toEqual(['deletes the test file test/sum.test.js']);
  });

  it.each([
    ['test.skip', 'test/sum.test.js', test, test.replace("test('sum'", "test.skip('sum'"), 'skips a test'],
    ['xit', 'test/a.spec.js', "it('a', () => {});\n", "xit('a', () => {});\n", 'skips a test'],
    ['it.only', 'test/a.spec.js', "it('a', () => {});\n", "it.only('a', () => {});\n", 'focuses a test'],
    [
      'pytest skip',
      'tests/test_a.py',
      'def test_a():\n    pass\n',
      'import pytest\n\n@pytest.mark.skip\ndef test_a():\n    pass\n',
      'skips a test',
    ],
    [
      'go t.Skip',
      'calc_test.go',
      'func TestA(t *testing.T) {\n}\n',
      'func TestA(t *testing.T) {\n\tt.Skip()\n}\n',
      'skips a test',
    ],
    [
      'eslint-disable',
      'src/a.js',
      'let a = 1;\n',
      '// eslint-disable-next-line prefer-const\nlet a = 1;\n',
      'disables a lint rule',
    ],
    ['noqa', 'app.py', 'import os\n', 'import os  # noqa: F401\n', 'disables a lint rule'],
    [
      '@ts-ignore',
      'src/a.ts',
      'const n: number = "s";\n',
      '// @ts-ignore\nconst n: number = "s";\n',
      'silences the type checker',
    ],
    [
      'type: ignore',
      'app.py',
      'x: int = "s"\n',
      'x: int = "s"  # type: ignore\n',
      'silences the type checker',
    ],
  ])('reject adding %s', (_name, file, before, after, rule) => {
    const violations = checkGuardrails(patchOf({ [file]: before }, edit(file, after)));
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatch(new RegExp(`^${rule}`));
  });

  it('accept a formatter moving an existing suppression', () => {
    const before = 'const x = {a:1}; // eslint-disable-line no-unused-vars\n';
    const after = 'const x = { a: 1 }; // eslint-disable-line no-unused-vars\n';
    expect(checkGuardrails(patchOf({ 'src/a.js': before }, edit('src/a.js', after)))).toEqual([]);
  });

  it('reject loosening lint, type and CI configuration edited by the agent, but not a recipe reformatting it', () => {
    const patch = patchOf(
      {
        'tsconfig.json': '{"compilerOptions":{"strict":true}}\n',
        '.github/workflows/ci.yml': 'on: push\n',
        'eslint.config.js': 'export default [];\n',
      },
      (dir) => {
        writeFileSync(path.join(dir, 'tsconfig.json'), '{ "compilerOptions": { "strict": false } }\n');
        writeFileSync(path.join(dir, '.github/workflows/ci.yml'), 'on: [push]\n');
        writeFileSync(path.join(dir, 'eslint.config.js'), 'export default [{ rules: {} }];\n');
      },
    );
    expect(checkGuardrails(patch)).toEqual([
      'edits CI configuration (.github/workflows/ci.yml)',
      'edits lint, format or type-check configuration (eslint.config.js)',
      'edits lint, format or type-check configuration (tsconfig.json)',
    ]);
    expect(checkGuardrails(patch, new Set())).toEqual([]);
  });

  it('reject a new symbolic link', () => {
    const patch = patchOf({ 'a.txt': 'a\n' }, (dir) => symlinkSync('/etc/passwd', path.join(dir, 'link')));
    expect(checkGuardrails(patch)).toEqual([
      'link is a symbolic link, which could point outside the repository',
    ]);
  });
});

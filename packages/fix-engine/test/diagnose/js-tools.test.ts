import { describe, expect, it } from 'vitest';
import { diagnose } from '../../src/diagnose/index.ts';
import { runTool, workspaceMaker } from '../helpers/real-tools.ts';

// Each test runs the real tool (from the workspace's node_modules) on small files and parses what it printed.
const make = workspaceMaker({}, { linkNodeModules: true });

describe('prettier --check', () => {
  it('names each unformatted file and ignores the summary', () => {
    const dir = make({
      'src/bad.js': 'const a = {b:1}\nexport default a\n',
      'src/good.js': 'export const ok = 1;\n',
      'other.js': 'let   x=1\n',
    });
    const run = runTool(dir, ['node_modules/.bin/prettier', '--check', 'src', 'other.js']);
    expect(run.exitCode).toBe(1);
    const { findings } = diagnose(run.output, dir);
    expect(findings.map((f) => [f.category, f.tool, f.file])).toEqual([
      ['format', 'prettier', 'src/bad.js'],
      ['format', 'prettier', 'other.js'],
    ]);
  });

  it('reports a file it cannot parse as a build error with its position', () => {
    const dir = make({ 'syn.js': 'const x = 1 +;\n' });
    const run = runTool(dir, ['node_modules/.bin/prettier', '--check', 'syn.js']);
    expect(run.exitCode).toBe(2);
    const { findings } = diagnose(run.output, dir);
    expect(findings).toEqual([
      expect.objectContaining({ category: 'build', tool: 'prettier', file: 'syn.js', line: 1, column: 14 }),
    ]);
  });

  it('makes paths relative to the repository when the command ran in a subdirectory', () => {
    const dir = make({ 'web/app.js': 'let   x=1\n' });
    const run = runTool(`${dir}/web`, ['../node_modules/.bin/prettier', '--check', 'app.js']);
    expect(diagnose(run.output, dir, { cwd: 'web' }).findings[0]?.file).toBe('web/app.js');
  });
});

describe('eslint (stylish)', () => {
  const config =
    "export default [{ files: ['**/*.js'], rules: { 'no-unused-vars': 'error', 'prefer-const': 'error', eqeqeq: 'warn' } }];\n";

  it('parses file, line, column, rule and severity from absolute paths', () => {
    const dir = make({
      'eslint.config.js': config,
      'src/a.js': 'let y = 2;\nexport const z = y;\nif (z == 2) {}\nfunction unused() {}\n',
      'src/clean.js': 'export const ok = 1;\n',
    });
    const run = runTool(dir, ['node_modules/.bin/eslint', 'src']);
    expect(run.exitCode).toBe(1);
    const { findings } = diagnose(run.output, dir);
    expect(findings.map((f) => [f.category, f.file, f.line, f.column, f.rule])).toEqual([
      ['lint', 'src/a.js', 1, 5, 'prefer-const'],
      ['lint', 'src/a.js', 3, 7, 'eqeqeq'],
      ['lint', 'src/a.js', 4, 10, 'no-unused-vars'],
    ]);
  });

  it('reports a parsing error as a build finding without a rule', () => {
    const dir = make({ 'eslint.config.js': config, 'syn.js': 'const x = 1 +;\n' });
    const run = runTool(dir, ['node_modules/.bin/eslint', 'syn.js']);
    const [finding] = diagnose(run.output, dir).findings;
    expect(finding).toMatchObject({ category: 'build', tool: 'eslint', file: 'syn.js', line: 1 });
    expect(finding?.rule).toBeUndefined();
    expect(finding?.message).toMatch(/^Parsing error/);
  });
});

describe('tsc', () => {
  const files = {
    'src/t.ts': 'const n: number = "s";\nexport function f(a: string): number { return a; }\nexport { n };\n',
  };

  it('parses plain output', () => {
    const dir = make(files);
    const run = runTool(dir, ['node_modules/.bin/tsc', '--noEmit', '--strict', 'src/t.ts']);
    expect(run.exitCode).toBe(2);
    const { findings } = diagnose(run.output, dir);
    expect(findings.map((f) => [f.category, f.file, f.line, f.column, f.rule])).toEqual([
      ['type', 'src/t.ts', 1, 7, 'TS2322'],
      ['type', 'src/t.ts', 2, 40, 'TS2322'],
    ]);
  });

  it('parses --pretty output with colours', () => {
    const dir = make(files);
    const run = runTool(dir, ['node_modules/.bin/tsc', '--noEmit', '--strict', '--pretty', 'src/t.ts']);
    expect(run.output).toContain('\u001b[');
    const { findings } = diagnose(run.output, dir);
    expect(findings.map((f) => [f.file, f.line, f.column, f.rule])).toEqual([
      ['src/t.ts', 1, 7, 'TS2322'],
      ['src/t.ts', 2, 40, 'TS2322'],
    ]);
  });
});

describe('vitest', () => {
  it('parses a failing assertion with its location', () => {
    const dir = make({
      'test/sum.test.js':
        'import { test, expect } from "vitest";\ntest("adds", () => {\n  expect(1 + 1).toBe(3);\n});\ntest("ok", () => {});\n',
    });
    const run = runTool(dir, ['node_modules/.bin/vitest', 'run', '--root', '.'], { FORCE_COLOR: '1' });
    expect(run.exitCode).toBe(1);
    const { findings } = diagnose(run.output, dir);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({
      category: 'test',
      tool: 'vitest',
      file: 'test/sum.test.js',
      line: 3,
      column: 17,
    });
    expect(findings[0]?.message).toMatch(/^adds: AssertionError: expected 2 to be 3/);
  });

  it('parses a test file that fails to import a package', () => {
    const dir = make({
      'test/imp.test.js':
        'import { test } from "vitest";\nimport x from "not-installed-pkg";\ntest("a", () => x);\n',
    });
    const run = runTool(dir, ['node_modules/.bin/vitest', 'run', '--root', '.']);
    const { findings } = diagnose(run.output, dir);
    expect(findings).toContainEqual(
      expect.objectContaining({ category: 'test', tool: 'vitest', file: 'test/imp.test.js', line: 2 }),
    );
    expect(findings).toContainEqual(
      expect.objectContaining({
        category: 'dependency',
        rule: 'missing-module',
        file: 'test/imp.test.js',
        message: "cannot find package 'not-installed-pkg'",
      }),
    );
  });
});

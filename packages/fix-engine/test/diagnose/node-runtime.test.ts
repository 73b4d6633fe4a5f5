import { describe, expect, it } from 'vitest';
import { diagnose } from '../../src/diagnose/index.ts';
import { runTool, workspaceMaker } from '../helpers/real-tools.ts';

// Node's own test runner and module loader: the real `node` binary on small files.
const make = workspaceMaker({ 'package.json': '{"type":"module"}\n' });

const suite = `import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
describe('math', () => {
  test('adds', () => {
    assert.equal(1 + 1, 3);
  });
  test('ok', () => {});
});
test('throws', () => { throw new TypeError('boom'); });
`;

describe('node --test', () => {
  it('spec reporter: each failing test with its location, suites left out', () => {
    const dir = make({ 'test/sum.test.js': suite });
    const run = runTool(dir, ['node', '--test']);
    expect(run.exitCode).toBe(1);
    const { findings } = diagnose(run.output, dir);
    expect(findings.map((f) => [f.category, f.tool, f.file, f.line, f.column])).toEqual([
      ['test', 'node-test', 'test/sum.test.js', 4, 3],
      ['test', 'node-test', 'test/sum.test.js', 9, 1],
    ]);
    expect(findings[0]?.message).toMatch(/^adds: AssertionError/);
    expect(findings[1]?.message).toBe('throws: TypeError: boom');
  });

  it('tap reporter: the same failures from the YAML blocks', () => {
    const dir = make({ 'test/sum.test.js': suite });
    const run = runTool(dir, ['node', '--test', '--test-reporter=tap']);
    const { findings } = diagnose(run.output, dir);
    expect(findings.map((f) => [f.file, f.line, f.message])).toEqual([
      ['test/sum.test.js', 4, 'adds: AssertionError'],
      ['test/sum.test.js', 9, 'throws: boom'],
    ]);
  });
});

describe('node module resolution', () => {
  it('ESM: a package that is not installed', () => {
    const dir = make({ 'src/m.js': 'import x from "left-pad-xyz";\nconsole.log(x);\n' });
    const run = runTool(dir, ['node', 'src/m.js']);
    expect(run.exitCode).toBe(1);
    expect(diagnose(run.output, dir).findings).toEqual([
      {
        category: 'dependency',
        tool: 'node',
        file: 'src/m.js',
        rule: 'missing-module',
        message: "cannot find package 'left-pad-xyz'",
      },
    ]);
  });

  it('CommonJS: require of a missing package names the requiring file', () => {
    const dir = make({ 'src/c.cjs': 'require("left-pad-xyz");\n' });
    const run = runTool(dir, ['node', 'src/c.cjs']);
    expect(diagnose(run.output, dir).findings).toEqual([
      expect.objectContaining({ category: 'dependency', file: 'src/c.cjs', rule: 'missing-module' }),
    ]);
  });

  it('a missing relative file is a build finding, not a dependency', () => {
    const dir = make({ 'src/m.js': 'import x from "./nope.js";\nconsole.log(x);\n' });
    const run = runTool(dir, ['node', 'src/m.js']);
    expect(diagnose(run.output, dir).findings).toEqual([
      expect.objectContaining({ category: 'build', rule: 'missing-file', file: 'src/m.js' }),
    ]);
  });
});

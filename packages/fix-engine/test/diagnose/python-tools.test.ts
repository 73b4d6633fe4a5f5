import { beforeAll, describe, expect, it } from 'vitest';
import { diagnose } from '../../src/diagnose/index.ts';
import { requireTool, runTool, workspaceMaker } from '../helpers/real-tools.ts';

// Real Debian-packaged tools (apt-get install black isort flake8 mypy python3-pytest); a missing tool fails.
const make = workspaceMaker();

const calc =
  'import sys\nimport os\ndef add(a,b):\n    return a+b\ndef typed(x: int) -> str:\n    return x\n';

describe('python formatters and linters', () => {
  beforeAll(() => ['black', 'isort', 'flake8', 'mypy'].forEach(requireTool));

  it('black --check names the files it would reformat', () => {
    const dir = make({ 'pkg/calc.py': calc, 'pkg/ok.py': 'X = 1\n' });
    const run = runTool(dir, ['black', '--check', '.']);
    expect(run.exitCode).toBe(1);
    expect(diagnose(run.output, dir).findings).toEqual([
      { category: 'format', tool: 'black', file: 'pkg/calc.py', message: 'file is not formatted with black' },
    ]);
  });

  it('black reports a file it cannot parse as a build error', () => {
    const dir = make({ 'bad.py': 'def f(:\n' });
    const run = runTool(dir, ['black', '--check', 'bad.py']);
    expect(run.exitCode).toBe(123);
    expect(diagnose(run.output, dir).findings).toEqual([
      expect.objectContaining({ category: 'build', tool: 'black', file: 'bad.py', rule: 'SyntaxError' }),
    ]);
  });

  it('isort --check-only names each unsorted file once', () => {
    const dir = make({ 'pkg/calc.py': calc, 'pkg/ok.py': 'import os\nimport sys\n' });
    const run = runTool(dir, ['isort', '--check-only', '.']);
    expect(run.exitCode).toBe(1);
    expect(diagnose(run.output, dir).findings.map((f) => [f.category, f.tool, f.file])).toEqual([
      ['format', 'isort', 'pkg/calc.py'],
    ]);
  });

  it('flake8 gives file, line, column and code', () => {
    const dir = make({ 'pkg/calc.py': calc });
    const run = runTool(dir, ['flake8', '.']);
    expect(run.exitCode).toBe(1);
    const findings = diagnose(run.output, dir).findings;
    expect(findings.map((f) => [f.category, f.file, f.line, f.column, f.rule])).toEqual([
      ['lint', 'pkg/calc.py', 1, 1, 'F401'],
      ['lint', 'pkg/calc.py', 2, 1, 'F401'],
      ['lint', 'pkg/calc.py', 3, 1, 'E302'],
      ['lint', 'pkg/calc.py', 3, 10, 'E231'],
      ['lint', 'pkg/calc.py', 5, 1, 'E302'],
    ]);
  });

  it('mypy gives file, line and error code, with columns when asked', () => {
    const dir = make({ 'pkg/__init__.py': '', 'pkg/calc.py': calc });
    const run = runTool(dir, ['mypy', '--show-column-numbers', 'pkg']);
    expect(run.exitCode).toBe(1);
    expect(diagnose(run.output, dir).findings).toEqual([
      {
        category: 'type',
        tool: 'mypy',
        file: 'pkg/calc.py',
        line: 6,
        column: 12,
        rule: 'return-value',
        message: 'Incompatible return value type (got "int", expected "str")',
      },
    ]);
  });
});

describe('pytest and imports', () => {
  beforeAll(() => ['pytest', 'python3'].forEach(requireTool));
  const conftest = '# makes the repository root importable\n';

  it('parses failed tests with the assertion line', () => {
    const dir = make({
      'conftest.py': conftest,
      'pkg/__init__.py': '',
      'pkg/calc.py': 'def add(a, b):\n    return a + b\n',
      'tests/test_calc.py':
        'from pkg.calc import add\n\n\ndef test_add():\n    assert add(1, 1) == 3\n\n\ndef test_fine():\n    assert True\n',
    });
    const run = runTool(dir, ['pytest']);
    expect(run.exitCode).toBe(1);
    expect(diagnose(run.output, dir).findings).toEqual([
      {
        category: 'test',
        tool: 'pytest',
        file: 'tests/test_calc.py',
        line: 5,
        message: 'test_add: assert 2 == 3',
      },
    ]);
  });

  it('reports a module that cannot be imported during collection as a missing dependency', () => {
    const dir = make({
      'conftest.py': conftest,
      'tests/test_dep.py': 'import requests_not_here\n\n\ndef test_x():\n    assert requests_not_here\n',
    });
    const run = runTool(dir, ['pytest', '-q']);
    expect(run.exitCode).toBe(2);
    const { findings } = diagnose(run.output, dir);
    expect(findings).toContainEqual(
      expect.objectContaining({
        category: 'test',
        tool: 'pytest',
        file: 'tests/test_dep.py',
        rule: 'collection-error',
      }),
    );
    expect(findings).toContainEqual({
      category: 'dependency',
      tool: 'python',
      file: 'tests/test_dep.py',
      line: 1,
      rule: 'missing-module',
      message: "No module named 'requests_not_here'",
    });
  });

  it('reports ModuleNotFoundError from a plain traceback with the importing file', () => {
    const dir = make({ 'app/main.py': 'import os\nimport yaml_not_here\n' });
    const run = runTool(dir, ['python3', 'app/main.py']);
    expect(run.exitCode).toBe(1);
    expect(diagnose(run.output, dir).findings).toEqual([
      expect.objectContaining({
        category: 'dependency',
        file: 'app/main.py',
        line: 2,
        rule: 'missing-module',
      }),
    ]);
  });
});

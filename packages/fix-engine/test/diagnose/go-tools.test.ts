import { beforeAll, describe, expect, it } from 'vitest';
import { diagnose } from '../../src/diagnose/index.ts';
import { requireTool, runTool, workspaceMaker } from '../helpers/real-tools.ts';

// The real go command and gofmt on a tiny module; no network is needed (no dependencies).
const make = workspaceMaker({ 'go.mod': 'module example.com/demo\n\ngo 1.21\n' });
beforeAll(() => ['go', 'gofmt'].forEach(requireTool));
const context = { goModule: 'example.com/demo' };

describe('go', () => {
  it('go build: compiler errors are build findings', () => {
    const dir = make({
      'broken/b.go': 'package broken\n\nfunc F() int {\n\treturn "x"\n}\n\nfunc G() { undefinedThing() }\n',
    });
    const run = runTool(dir, ['go', 'build', './...'], { GOFLAGS: '' });
    expect(run.exitCode).toBe(1);
    expect(
      diagnose(run.output, dir, context).findings.map((f) => [f.category, f.tool, f.file, f.line, f.column]),
    ).toEqual([
      ['build', 'go', 'broken/b.go', 4, 9],
      ['build', 'go', 'broken/b.go', 7, 12],
    ]);
  });

  const vetFiles = {
    'calc/calc.go': 'package calc\n\nimport "fmt"\n\nfunc Show(x int) {\n\tfmt.Printf("%s\\n", x)\n}\n',
    'broken/b.go': 'package broken\n\nfunc F() int {\n\treturn "x"\n}\n',
  };
  const vetExpected = [
    ['build', 'go', 'broken/b.go', 4, 9],
    ['lint', 'go vet', 'calc/calc.go', 6, 14],
  ];

  it('go vet: analyzer findings are lint, type-check errors are build', () => {
    const dir = make(vetFiles);
    const run = runTool(dir, ['go', 'vet', './...'], { GOFLAGS: '' });
    expect(run.exitCode).toBe(1);
    const findings = diagnose(run.output, dir, { ...context, command: 'go vet ./...' }).findings;
    expect(findings.map((f) => [f.category, f.tool, f.file, f.line, f.column])).toEqual(vetExpected);
  });

  it('go test: vet findings under `# [package]` are lint, compile errors build', () => {
    // `go test` prints the bracketed header for packages that have tests.
    const dir = make({
      ...vetFiles,
      'calc/calc_test.go': 'package calc\n\nimport "testing"\n\nfunc TestShow(t *testing.T) {}\n',
    });
    const run = runTool(dir, ['go', 'test', './...'], { GOFLAGS: '' });
    expect(run.exitCode).toBe(1);
    const findings = diagnose(run.output, dir, { ...context, command: 'go test ./...' }).findings;
    expect(findings.map((f) => [f.category, f.tool, f.file, f.line, f.column])).toEqual(vetExpected);
  });

  it('go test: failing tests carry their file in the package directory', () => {
    const dir = make({
      'calc/calc.go': 'package calc\n\nfunc Add(a, b int) int { return a + b }\n',
      'calc/calc_test.go':
        'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif got := Add(1, 1); got != 3 {\n\t\tt.Errorf("Add(1, 1) = %d, want 3", got)\n\t}\n}\n\nfunc TestOK(t *testing.T) {}\n',
    });
    const run = runTool(dir, ['go', 'test', './...'], { GOFLAGS: '' });
    expect(run.exitCode).toBe(1);
    expect(diagnose(run.output, dir, context).findings).toEqual([
      {
        category: 'test',
        tool: 'go test',
        file: 'calc/calc_test.go',
        line: 7,
        message: 'TestAdd: Add(1, 1) = 2, want 3',
      },
    ]);
  });

  it('gofmt -l: bare file names are format findings', () => {
    const dir = make({
      'calc/fmt.go': 'package calc\nfunc  Sub(a,b int) int {return a-b}\n',
      'ok.go': 'package demo\n',
    });
    const run = runTool(dir, ['gofmt', '-l', '.']);
    expect(diagnose(run.output, dir).findings).toEqual([
      { category: 'format', tool: 'gofmt', file: 'calc/fmt.go', message: 'file is not formatted with gofmt' },
    ]);
  });

  it('gofmt -d: diff headers name the files', () => {
    const dir = make({ 'calc/fmt.go': 'package calc\nfunc  Sub(a,b int) int {return a-b}\n' });
    const run = runTool(dir, ['gofmt', '-d', '.']);
    expect(diagnose(run.output, dir).findings.map((f) => [f.tool, f.file])).toEqual([
      ['gofmt', 'calc/fmt.go'],
    ]);
  });

  it('an import no module provides is a dependency finding', () => {
    const dir = make({ 'dep/d.go': 'package dep\n\nimport "github.com/google/uuid"\n\nvar X = uuid.New\n' });
    const run = runTool(dir, ['go', 'build', './...'], { GOFLAGS: '', GOPROXY: 'off' });
    expect(run.exitCode).toBe(1);
    expect(diagnose(run.output, dir, context).findings).toEqual([
      expect.objectContaining({
        category: 'dependency',
        tool: 'go mod',
        file: 'dep/d.go',
        rule: 'missing-go-module',
        message: 'no required module provides package github.com/google/uuid',
      }),
    ]);
  });
});

import type { Finding } from '@ci-fixer/contract';
import { dedupe, fileIn, type ParseContext } from './context.ts';

// The go command groups compiler errors under `# package`, and (in `go test`) vet findings under
// `# [package]`; `go vet` alone prints its findings without a header, and its type-check errors with `vet: `:
//   calc/calc.go:10:14: fmt.Printf format %s has arg x of wrong type int
const PACKAGE_HEADER = /^# (\[)?\S+?\]?$/;
const POSITION = /^(\S+?\.go):(\d+):(\d+): (.+)$/;
const VET_PREFIX = /^vet: /;
// Module resolution errors carry a position too, but are the module graph's fault rather than the code's.
const MISSING_MODULE = /no required module provides package (\S+?);/;
const MISSING_SUM = /missing go\.sum entry for module providing package (\S+)/;
// `go test`: `--- FAIL: TestAdd (0.00s)` then indented `calc_test.go:7: message`, then `FAIL\tpkg\t0.003s`.
const TEST_FAIL = /^\s*--- FAIL: (\S+)/;
const TEST_MESSAGE = /^\s+(\S+?_test\.go):(\d+): (.+)$/;
const PACKAGE_FAIL = /^FAIL\t(\S+)\t/;
// `gofmt -l` prints bare file names; `gofmt -d` prints `diff -u file.go.orig file.go`.
const GOFMT_DIFF = /^diff (?:-u )?(\S+\.go)\.orig \S+\.go$/;
const BARE_GO_FILE = /^\S+\.go$/;

export function parseGo(output: string, context: ParseContext): Finding[] {
  const lines = output.split('\n').map((line) => line.trimEnd());
  const findings: Finding[] = [];
  const vetOnly =
    /\bgo\s+vet\b/.test(context.command ?? '') && !/\bgo\s+(build|test|run)\b/.test(context.command ?? '');
  let inVet = vetOnly;
  let pendingTests: Finding[] = [];
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const header = PACKAGE_HEADER.exec(line);
    if (header) {
      inVet = vetOnly || Boolean(header[1]);
      continue;
    }
    const typeCheck = VET_PREFIX.test(line);
    const position = POSITION.exec(line.replace(VET_PREFIX, ''));
    if (position && !TEST_MESSAGE.test(line)) {
      const [, file, row, column, message] = position;
      const missing = MISSING_MODULE.exec(message!) ?? MISSING_SUM.exec(message!);
      const vet = inVet && !typeCheck;
      findings.push({
        category: missing ? 'dependency' : vet ? 'lint' : 'build',
        tool: missing ? 'go mod' : vet ? 'go vet' : 'go',
        file: fileIn(context, file!),
        line: Number(row),
        column: Number(column),
        ...(missing ? { rule: MISSING_MODULE.test(message!) ? 'missing-go-module' : 'missing-go-sum' } : {}),
        message: missing ? message!.replace(/;.*$/, '') : message!,
      });
      continue;
    }
    const failed = TEST_FAIL.exec(line);
    if (failed) {
      const message = TEST_MESSAGE.exec(lines[index + 1] ?? '');
      pendingTests.push({
        category: 'test',
        tool: 'go test',
        ...(message ? { file: message[1]!, line: Number(message[2]) } : {}),
        message: `${failed[1]}${message ? `: ${message[3]}` : ''}`,
      });
      continue;
    }
    const packageFailed = PACKAGE_FAIL.exec(line);
    if (packageFailed) {
      const dir = packageDir(packageFailed[1]!, context.goModule);
      for (const test of pendingTests) {
        if (test.file) test.file = fileIn(context, dir ? `${dir}/${test.file}` : test.file);
        findings.push(test);
      }
      pendingTests = [];
    }
  }
  return dedupe([...findings, ...parseGofmt(lines, context)]);
}

function parseGofmt(lines: string[], context: ParseContext): Finding[] {
  const diffs = lines.map((line) => GOFMT_DIFF.exec(line)?.[1]).filter((file) => file !== undefined);
  const meaningful = lines.filter(Boolean);
  // Bare names are only trusted when they are all the output says: that is `gofmt -l` failing a check.
  const bare = meaningful.length > 0 && meaningful.every((line) => BARE_GO_FILE.test(line)) ? meaningful : [];
  return [...new Set([...diffs, ...bare])].map((file) => ({
    category: 'format' as const,
    tool: 'gofmt',
    file: fileIn(context, file),
    message: 'file is not formatted with gofmt',
  }));
}

/** `example.com/demo/calc` in module `example.com/demo` lives in `calc`. */
function packageDir(importPath: string, module: string | undefined): string | undefined {
  if (!module) return undefined;
  if (importPath === module) return '';
  return importPath.startsWith(`${module}/`) ? importPath.slice(module.length + 1) : undefined;
}

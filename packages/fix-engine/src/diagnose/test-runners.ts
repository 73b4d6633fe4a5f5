import type { Finding } from '@ci-fixer/contract';
import { dedupe, fileIn, type ParseContext } from './context.ts';

// Vitest: ` FAIL  test/sum.test.js > sum > adds` then the error and ` ❯ test/sum.test.js:5:17`; a file that
// fails before its tests run is ` FAIL  test/sum.test.js [ test/sum.test.js ]`.
const VITEST_FAIL = /^\s*FAIL\s+(\S+)\s+>\s+(.+)$/;
const VITEST_SUITE_FAIL = /^\s*FAIL\s+(\S+)\s+\[\s*\S+\s*\]$/;
const VITEST_LOCATION = /^\s*❯\s+(\S+?):(\d+):(\d+)/;
// Jest: ` FAIL  ./sum.test.js`, then `  ● suite › test` and `at ... (sum.test.js:5:17)`.
const JEST_FILE = /^\s*FAIL\s+(\S+)\s*$/;
const JEST_TEST = /^\s*●\s+(.+)$/;
const ERROR_LINE = /^\s*((?:Assertion)?Error|TypeError|ReferenceError|SyntaxError|expect\().*$/;

export function parseTestRunners(output: string, context: ParseContext): Finding[] {
  const lines = output.split('\n').map((line) => line.trimEnd());
  const findings: Finding[] = [];
  const isVitest = /\bvitest\b|Test Files\s/i.test(output);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const vitest = VITEST_FAIL.exec(line);
    const suite = VITEST_SUITE_FAIL.exec(line);
    if (vitest || suite) {
      const detail = findDetail(lines, index + 1);
      const name = vitest ? vitest[2]!.trim() : 'test file failed to load';
      findings.push({
        category: 'test',
        tool: 'vitest',
        file: fileIn(context, detail.file ?? (vitest ?? suite)![1]!),
        ...(detail.line ? { line: detail.line, column: detail.column } : {}),
        message: `${name}${detail.error ? `: ${detail.error}` : ''}`,
      });
      continue;
    }
    const jestFile = isVitest ? null : JEST_FILE.exec(line);
    if (jestFile) {
      for (let inner = index + 1; inner < lines.length && !JEST_FILE.test(lines[inner]!); inner++) {
        const test = JEST_TEST.exec(lines[inner]!);
        if (!test) continue;
        const detail = findDetail(lines, inner + 1);
        findings.push({
          category: 'test',
          tool: 'jest',
          file: fileIn(context, jestFile[1]!),
          ...(detail.line ? { line: detail.line, column: detail.column } : {}),
          message: `${test[1]!.trim()}${detail.error ? `: ${detail.error}` : ''}`,
        });
      }
    }
  }
  return dedupe(findings);
}

function findDetail(lines: string[], from: number) {
  const detail: { error?: string; file?: string; line?: number; column?: number } = {};
  for (let index = from; index < Math.min(lines.length, from + 40); index++) {
    const line = lines[index]!;
    if (VITEST_FAIL.test(line) || VITEST_SUITE_FAIL.test(line) || JEST_TEST.test(line)) break;
    if (!detail.error && ERROR_LINE.test(line)) detail.error = line.trim();
    const location = VITEST_LOCATION.exec(line) ?? /\(([^()\s]+?):(\d+):(\d+)\)/.exec(line);
    if (location && !detail.file && !location[1]!.includes('node_modules')) {
      detail.file = location[1]!;
      detail.line = Number(location[2]);
      detail.column = Number(location[3]);
    }
  }
  return detail;
}

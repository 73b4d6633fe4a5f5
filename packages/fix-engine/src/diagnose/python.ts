import type { Finding } from '@ci-fixer/contract';
import { dedupe, fileIn, type ParseContext } from './context.ts';

// pytest's short summary: `FAILED tests/test_x.py::test_add - assert 2 == 3` and `ERROR tests/test_x.py`;
// the location of an assertion is a line `tests/test_x.py:4: AssertionError`.
const PYTEST_RESULT = /^(FAILED|ERROR) ([^\s:]+\.py)(?:::(\S+))?(?: - (.+))?$/;
const PYTEST_LOCATION = /^([^\s:]+\.py):(\d+): (\w+)$/;
// black --check: `would reformat /abs/path.py`; a file it cannot parse: `error: cannot format path: ...`.
const BLACK_REFORMAT = /^would reformat (.+\.pyi?)$/;
const BLACK_ERROR = /^error: cannot format (.+?\.pyi?): (.+)$/;
// isort --check-only: `ERROR: /abs/path.py Imports are incorrectly sorted and/or formatted.`
const ISORT = /^ERROR: (.+?\.pyi?) Imports are incorrectly sorted/;
// flake8: `./pkg/calc.py:3:10: E231 missing whitespace after ','`
const FLAKE8 = /^(.+?\.pyi?):(\d+):(\d+): ([A-Z]+\d+) (.+)$/;
// mypy: `pkg/calc.py:6: error: Incompatible return value type  [return-value]`, with a column when asked.
const MYPY = /^(.+?\.pyi?):(\d+):(?:(\d+):)? error: (.+?)(?: {2}\[([\w-]+)\])?$/;
// Python itself: `ModuleNotFoundError: No module named 'x'` (pytest prefixes `E   `).
const MISSING_MODULE = /^(?:E\s+)?ModuleNotFoundError: No module named '([^']+)'/;
const TRACEBACK_FILE = /^\s*File "(.+?)", line (\d+)/;
const PYTEST_FRAME = /^([^\s:]+\.py):(\d+): in /;

export function parsePytest(output: string, context: ParseContext): Finding[] {
  if (!/short test summary info|^=+ .*\b(failed|error)/m.test(output)) return [];
  const lines = output.split('\n').map((line) => line.trimEnd());
  const findings: Finding[] = [];
  for (const line of lines) {
    const result = PYTEST_RESULT.exec(line);
    if (!result) continue;
    const [, kind, file, test, message] = result;
    const location = lines
      .map((candidate) => PYTEST_LOCATION.exec(candidate))
      .find((match) => match?.[1] === file);
    findings.push({
      category: 'test',
      tool: 'pytest',
      file: fileIn(context, file!),
      ...(location ? { line: Number(location[2]) } : {}),
      ...(kind === 'ERROR' ? { rule: 'collection-error' } : {}),
      message: [test, message].filter(Boolean).join(': ') || 'error while collecting tests',
    });
  }
  return dedupe(findings);
}

export function parsePythonTools(output: string, context: ParseContext): Finding[] {
  const findings: Finding[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trimEnd();
    let match: RegExpExecArray | null;
    if ((match = BLACK_REFORMAT.exec(line))) {
      findings.push({
        category: 'format',
        tool: 'black',
        file: fileIn(context, match[1]!),
        message: 'file is not formatted with black',
      });
    } else if ((match = BLACK_ERROR.exec(line))) {
      findings.push({
        category: 'build',
        tool: 'black',
        file: fileIn(context, match[1]!),
        rule: 'SyntaxError',
        message: match[2]!,
      });
    } else if ((match = ISORT.exec(line))) {
      findings.push({
        category: 'format',
        tool: 'isort',
        file: fileIn(context, match[1]!),
        message: 'imports are not sorted with isort',
      });
    } else if ((match = FLAKE8.exec(line))) {
      findings.push({
        category: 'lint',
        tool: 'flake8',
        file: fileIn(context, match[1]!),
        line: Number(match[2]),
        column: Number(match[3]),
        rule: match[4]!,
        message: match[5]!,
      });
    } else if ((match = MYPY.exec(line))) {
      findings.push({
        category: 'type',
        tool: 'mypy',
        file: fileIn(context, match[1]!),
        line: Number(match[2]),
        ...(match[3] ? { column: Number(match[3]) } : {}),
        ...(match[5] ? { rule: match[5] } : {}),
        message: match[4]!,
      });
    }
  }
  return dedupe(findings);
}

/** A module Python cannot import: a dependency missing from the environment (or from requirements). */
export function parsePythonImports(output: string, context: ParseContext): Finding[] {
  const lines = output.split('\n').map((line) => line.trimEnd());
  const findings: Finding[] = [];
  lines.forEach((line, index) => {
    const missing = MISSING_MODULE.exec(line);
    if (!missing) return;
    let where: RegExpExecArray | null = null;
    for (let back = index - 1; back >= Math.max(0, index - 30) && !where; back--) {
      const frame = TRACEBACK_FILE.exec(lines[back]!) ?? PYTEST_FRAME.exec(lines[back]!);
      if (frame && !frame[1]!.includes('/importlib/')) where = frame;
    }
    findings.push({
      category: 'dependency',
      tool: 'python',
      ...(where ? { file: fileIn(context, where[1]!), line: Number(where[2]) } : {}),
      rule: 'missing-module',
      message: `No module named '${missing[1]}'`,
    });
  });
  return dedupe(findings);
}

import type { Finding } from '@ci-fixer/contract';
import { dedupe, fileIn, type ParseContext } from './context.ts';

// Node's test runner, spec reporter (its default): after `✖ failing tests:` each failure is
//   test at test/sum.test.js:4:3
//   ✖ adds (1.4ms)
//     AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:
const SPEC_LOCATION = /^test at (.+?):(\d+):(\d+)$/;
const SPEC_FAILED = /^✖ (.+?)(?: \([\d.]+m?s\))?$/;
// TAP reporter: `not ok 1 - adds` followed by a YAML block with `location:` and `failureType:`.
const TAP_NOT_OK = /^(\s*)not ok \d+ - (.+?)(?: # .*)?$/;
const TAP_FIELD = /^\s+(location|failureType|error|name): (.+)$/;

export function parseNodeTest(output: string, context: ParseContext): Finding[] {
  const lines = output.split('\n').map((line) => line.trimEnd());
  const findings: Finding[] = [];
  const failuresAt = lines.indexOf('✖ failing tests:');
  if (failuresAt >= 0) {
    for (let index = failuresAt + 1; index < lines.length; index++) {
      const location = SPEC_LOCATION.exec(lines[index]!);
      const failed = location && SPEC_FAILED.exec(lines[index + 1] ?? '');
      if (!location || !failed) continue;
      const error = lines
        .slice(index + 2, index + 6)
        .map((line) => line.trim())
        .find(Boolean);
      findings.push({
        category: 'test',
        tool: 'node-test',
        file: fileIn(context, location[1]!),
        line: Number(location[2]),
        column: Number(location[3]),
        message: `${failed[1]}${error ? `: ${error}` : ''}`,
      });
    }
  }
  if (/^TAP version \d+/m.test(output)) {
    for (let index = 0; index < lines.length; index++) {
      const notOk = TAP_NOT_OK.exec(lines[index]!);
      if (!notOk) continue;
      const fields: Record<string, string> = {};
      for (let inner = index + 1; inner < lines.length && !/^\s*\.\.\.$/.test(lines[inner]!); inner++) {
        const field = TAP_FIELD.exec(lines[inner]!);
        if (field && !(field[1]! in fields)) fields[field[1]!] = field[2]!.replace(/^'|'$/g, '');
      }
      // A suite fails because its tests did; the tests themselves are reported.
      if (fields.failureType === 'subtestsFailed') continue;
      const location = /^(.+?):(\d+):(\d+)$/.exec(fields.location ?? '');
      const error = fields.error && fields.error !== '|-' ? fields.error : fields.name;
      findings.push({
        category: 'test',
        tool: 'node-test',
        ...(location
          ? { file: fileIn(context, location[1]!), line: Number(location[2]), column: Number(location[3]) }
          : {}),
        message: `${notOk[2]}${error ? `: ${error}` : ''}`,
      });
    }
  }
  return dedupe(findings);
}

import type { Finding } from '@ci-fixer/contract';
import { fileIn, type ParseContext } from './context.ts';

// tsc prints `file(line,col): error TS1234: message` plainly, and `file:line:col - error TS1234: message`
// with --pretty (its default on a terminal).
const PLAIN = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.+)$/;
const PRETTY = /^(.+?):(\d+):(\d+) - error (TS\d+): (.+)$/;

export function parseTsc(output: string, context: ParseContext): Finding[] {
  const findings: Finding[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trimEnd();
    const match = PLAIN.exec(line) ?? PRETTY.exec(line);
    if (!match) continue;
    findings.push({
      category: 'type',
      tool: 'tsc',
      file: fileIn(context, match[1]!),
      line: Number(match[2]),
      column: Number(match[3]),
      rule: match[4]!,
      message: match[5]!,
    });
  }
  return findings;
}

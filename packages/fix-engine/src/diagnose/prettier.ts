import type { Finding } from '@ci-fixer/contract';
import { fileIn, type ParseContext } from './context.ts';

// `prettier --check` lists each unformatted file as `[warn] path`, then a summary line that also starts
// with `[warn]`; `prettier --list-different` prints bare paths, which are too ambiguous to claim.
// A file it cannot parse is `[error] path: SyntaxError: message (line:col)`, followed by a code frame.
const WARN_LINE = /^\[warn\] (.+)$/;
const SUMMARY = /^(Code style issues|All matched files)/;
const SYNTAX_ERROR = /^\[error\] ([^\s:][^:]*): (SyntaxError: .+?)(?: \((\d+):(\d+)\))?$/;

export function parsePrettier(output: string, context: ParseContext): Finding[] {
  if (!output.includes('[warn]') && !output.includes('[error]')) return [];
  const findings: Finding[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trimEnd();
    const syntax = SYNTAX_ERROR.exec(line);
    if (syntax) {
      findings.push({
        category: 'build',
        tool: 'prettier',
        file: fileIn(context, syntax[1]!),
        ...(syntax[3] ? { line: Number(syntax[3]), column: Number(syntax[4]) } : {}),
        rule: 'SyntaxError',
        message: syntax[2]!,
      });
      continue;
    }
    const match = WARN_LINE.exec(line);
    if (!match || SUMMARY.test(match[1]!)) continue;
    findings.push({
      category: 'format',
      tool: 'prettier',
      file: fileIn(context, match[1]!),
      message: 'file is not formatted with Prettier',
    });
  }
  return findings;
}

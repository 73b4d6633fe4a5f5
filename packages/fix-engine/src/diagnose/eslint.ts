import type { Finding } from '@ci-fixer/contract';
import { fileIn, type ParseContext } from './context.ts';

// ESLint's default "stylish" formatter: a file path on its own line, then one indented line per problem:
//   12:5  error  'x' is assigned a value but never used  no-unused-vars
const PROBLEM = /^\s+(\d+):(\d+)\s+(error|warning)\s+(.+?)(?:\s{2,}(\S+))?\s*$/;
const FILE_HEADER = /^(\/|[A-Za-z]:\\|\.{0,2}\/)?\S.*\.(?:[cm]?[jt]sx?|vue|svelte|astro|json|md)$/;
const FIXABLE = /(\d+) errors? and (\d+) warnings? potentially fixable with the `--fix` option/;

export function parseEslint(output: string, context: ParseContext): Finding[] {
  if (!/\d+ problems? \(/.test(output)) return [];
  const findings: Finding[] = [];
  let file: string | undefined;
  for (const raw of output.split('\n')) {
    const line = raw.trimEnd();
    if (FILE_HEADER.test(line) && !line.startsWith(' ')) {
      file = fileIn(context, line);
      continue;
    }
    const problem = PROBLEM.exec(line);
    if (!problem || !file) continue;
    const parseError = problem[4]!.startsWith('Parsing error:');
    findings.push({
      category: parseError ? 'build' : 'lint',
      tool: 'eslint',
      file,
      line: Number(problem[1]),
      column: Number(problem[2]),
      message: problem[4]!,
      ...(problem[5] ? { rule: problem[5] } : {}),
    });
  }
  return findings;
}

/** How many problems ESLint itself says `--fix` would fix, or 0 when it does not say. */
export function eslintFixableCount(output: string): number {
  const match = FIXABLE.exec(output);
  return match ? Number(match[1]) + Number(match[2]) : 0;
}

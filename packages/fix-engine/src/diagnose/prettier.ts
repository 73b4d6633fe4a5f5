import type { Finding } from '@ci-fixer/jobs';
import { repoRelative } from './paths.ts';

// `prettier --check` lists each unformatted file as `[warn] path`, then a summary line that also starts
// with `[warn]`; `prettier --list-different` prints bare paths, which are too ambiguous to claim.
const WARN_LINE = /^\[warn\] (.+)$/;
const SUMMARY = /^(Code style issues|All matched files)/;

export function parsePrettier(output: string, workdir: string): Finding[] {
  if (!output.includes('[warn]')) return [];
  const findings: Finding[] = [];
  for (const line of output.split('\n')) {
    const match = WARN_LINE.exec(line.trimEnd());
    if (!match || SUMMARY.test(match[1]!)) continue;
    findings.push({
      category: 'format',
      tool: 'prettier',
      file: repoRelative(match[1]!, workdir),
      message: 'file is not formatted with Prettier',
    });
  }
  return findings;
}

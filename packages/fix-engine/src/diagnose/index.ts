import type { Diagnosis, Finding } from '@ci-fixer/jobs';
import { parseEslint } from './eslint.ts';
import { stripAnsi } from './paths.ts';
import { parsePrettier } from './prettier.ts';
import { parseTestRunners } from './test-runners.ts';
import { parseTsc } from './tsc.ts';

export { eslintFixableCount } from './eslint.ts';
export { stripAnsi } from './paths.ts';

const PARSERS = [parsePrettier, parseEslint, parseTsc, parseTestRunners];

/** Turns a failing command's output into findings; unknown output yields one `unknown` finding with its error lines. */
export function diagnose(rawOutput: string, workdir: string): Diagnosis {
  const output = stripAnsi(rawOutput);
  const findings: Finding[] = PARSERS.flatMap((parse) => parse(output, workdir));
  if (findings.length === 0) {
    const errors = errorRegion(output);
    return {
      summary: 'the failure matches no known tool output',
      findings: [
        { category: 'unknown', tool: 'unknown', message: errors || 'the command failed without output' },
      ],
    };
  }
  return { summary: summarize(findings), findings };
}

function summarize(findings: Finding[]): string {
  const byTool = new Map<string, number>();
  for (const finding of findings) byTool.set(finding.tool, (byTool.get(finding.tool) ?? 0) + 1);
  return [...byTool].map(([tool, count]) => `${count} ${tool} finding${count === 1 ? '' : 's'}`).join(', ');
}

/** Lines that look like errors, with a little context, for a person or an agent to read. */
function errorRegion(output: string, maxLines = 40): string {
  const lines = output.split('\n');
  const wanted = new Set<number>();
  lines.forEach((line, index) => {
    if (/\b(error|failed|failure|exception|cannot|not found|fatal)\b/i.test(line)) {
      for (let near = Math.max(0, index - 2); near <= Math.min(lines.length - 1, index + 2); near++)
        wanted.add(near);
    }
  });
  const picked = [...wanted].sort((a, b) => a - b).map((index) => lines[index]!);
  const region = picked.length > 0 ? picked : lines.filter(Boolean).slice(-maxLines);
  return region.slice(-maxLines).join('\n').trim();
}

import type { Diagnosis, Finding } from '@ci-fixer/contract';
import type { ParseContext, Parser } from './context.ts';
import { parseEslint } from './eslint.ts';
import { parseGo } from './go.ts';
import { parseNodeDependencies } from './node-deps.ts';
import { parseNodeTest } from './node-test.ts';
import { stripAnsi } from './paths.ts';
import { parsePrettier } from './prettier.ts';
import { parsePytest, parsePythonImports, parsePythonTools } from './python.ts';
import { parseTestRunners } from './test-runners.ts';
import { parseTsc } from './tsc.ts';

export { eslintFixableCount } from './eslint.ts';
export { stripAnsi } from './paths.ts';

const PARSERS: Parser[] = [
  parsePrettier,
  parseEslint,
  parseTsc,
  parseTestRunners,
  parseNodeTest,
  parseNodeDependencies,
  parsePytest,
  parsePythonTools,
  parsePythonImports,
  parseGo,
];

export type DiagnoseOptions = Partial<Omit<ParseContext, 'workdir'>>;

/**
 * Turns a failing command's output into findings; unknown output yields one `unknown` finding with its
 * error lines. `workdir` is the repository root; `cwd` the directory the command ran in, relative to it.
 */
export function diagnose(rawOutput: string, workdir: string, options: DiagnoseOptions = {}): Diagnosis {
  const output = stripAnsi(rawOutput);
  const context: ParseContext = { ...options, workdir, cwd: options.cwd ?? '' };
  const findings: Finding[] = PARSERS.flatMap((parse) => parse(output, context));
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

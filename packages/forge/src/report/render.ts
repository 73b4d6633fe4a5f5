import type { FixResult, ForgeSource, Outcome } from '@ci-fixer/contract';
import type { FailureContext } from '../failure.ts';

export interface ReportInput {
  source: ForgeSource;
  result: FixResult;
  /** The recovered failing step; null when it could not be recovered. */
  context: FailureContext | null;
  jobId: string;
  /** Set when the failed jobs were re-run because the failure did not reproduce. */
  rerun?: boolean;
  /** Set when the fix was pushed: the branch and commit. */
  pushed?: { branch: string; commitSha: string };
}

const TITLES: Record<Outcome, string> = {
  fixed: 'fixed — the failing command passes with this patch',
  not_reproducible: 'not reproducible — the failing command passed in a clean sandbox',
  unfixable: 'no fix — ci-fixer could not fix this failure',
};

// GitHub and GitLab cap comment bodies at 65,536 and 1,000,000 characters; stay well below both.
const MAX_PATCH_CHARS = 40_000;

/** The hidden line that finds ci-fixer's comment again, one per pull request and workflow. */
export function reportMarker(source: ForgeSource): string {
  return `<!-- ci-fixer:report ${source.forge}:${source.workflowPath ?? 'pipeline'} -->`;
}

export function reportTitle(result: FixResult): string {
  return `ci-fixer: ${TITLES[result.outcome]}`;
}

/** The Markdown report: diagnosis, verification and the patch, for a comment, a PR body or a check run. */
export function renderReport(input: ReportInput): string {
  const { source, result, context } = input;
  const lines = [reportMarker(source), `### ${reportTitle(result)}`, ''];
  const run = `${source.workflowPath ?? 'pipeline'} #${source.runId}${source.runAttempt > 1 ? ` (attempt ${source.runAttempt})` : ''}`;
  lines.push(
    `**Run:** ${source.runUrl ? `[${run}](${source.runUrl})` : run} at \`${source.headSha.slice(0, 12)}\``,
  );
  if (context) {
    lines.push(
      `**Failing step:** ${context.jobName} › ${context.stepName}`,
      '',
      '```sh',
      context.script,
      '```',
    );
  }
  lines.push('', `**Result:** ${result.reason}`);
  const findings = result.diagnosis?.findings ?? [];
  if (result.diagnosis) {
    lines.push('', `**Diagnosis:** ${result.diagnosis.summary}`);
    for (const finding of findings.slice(0, 20)) {
      const where = finding.file ? `\`${finding.file}${finding.line ? `:${finding.line}` : ''}\` ` : '';
      lines.push(`- ${where}${finding.message} (${finding.tool}${finding.rule ? ` ${finding.rule}` : ''})`);
    }
    if (findings.length > 20) lines.push(`- … and ${findings.length - 20} more`);
  }
  const verification = result.steps.filter((step) => step.stage === 'verifying').at(-1);
  if (verification) {
    const passed = verification.exitCode === 0;
    lines.push(
      '',
      `**Verification:** ${passed ? '✅ passed' : '❌ failed'} in the sandbox (exit ${verification.exitCode}, ${(verification.durationMs / 1000).toFixed(1)} s)${result.strategy ? ` after \`${result.strategy}\`` : ''}.`,
    );
  }
  if (input.rerun) lines.push('', '**Flaky:** the failed jobs were re-run.');
  if (input.pushed) {
    lines.push(
      '',
      `**Pushed:** commit \`${input.pushed.commitSha.slice(0, 12)}\` to \`${input.pushed.branch}\`.`,
    );
  }
  if (result.patch) {
    const files = (result.patch.match(/^diff --git /gm) ?? []).length;
    const shown =
      result.patch.length > MAX_PATCH_CHARS
        ? `${result.patch.slice(0, MAX_PATCH_CHARS)}\n… patch truncated; the full patch is in the API (job ${input.jobId})\n`
        : result.patch;
    lines.push(
      '',
      `<details><summary>Patch (${files} file${files === 1 ? '' : 's'}) — apply with <code>git apply</code></summary>`,
      '',
      '```diff',
      shown.trimEnd(),
      '```',
      '',
      '</details>',
    );
  }
  lines.push('', `<sub>ci-fixer job \`${input.jobId}\`</sub>`);
  return lines.join('\n');
}

/** A replacement of whole lines that a GitHub suggestion block can carry. */
export interface Suggestion {
  path: string;
  startLine: number;
  endLine: number;
  replacement: string[];
}

/** Hunks of a unified diff as line replacements on the old file; insertions anchor on the line before. */
export function suggestionsFromPatch(patch: string): Suggestion[] {
  const suggestions: Suggestion[] = [];
  let path: string | undefined;
  const lines = patch.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('diff --git ')) path = undefined;
    else if (line.startsWith('+++ '))
      path = line === '+++ /dev/null' ? undefined : line.slice(4).replace(/^b\//, '');
    else if (line.startsWith('Binary files')) path = undefined;
    const header = /^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@/.exec(line);
    if (!header || !path) continue;
    const body: string[] = [];
    for (
      let j = i + 1;
      j < lines.length && /^[ +\\-]/.test(lines[j]!) && !lines[j]!.startsWith('diff --git');
      j++
    ) {
      if (!lines[j]!.startsWith('\\')) body.push(lines[j]!);
    }
    const first = body.findIndex((entry) => entry[0] !== ' ');
    const last = body.findLastIndex((entry) => entry[0] !== ' ');
    if (first < 0) continue;
    let from = first;
    if (!body.slice(first, last + 1).some((entry) => entry[0] === '-')) {
      if (first === 0) continue; // an insertion at the top of a hunk has no line to anchor on
      from = first - 1;
    }
    let oldLine = Number(header[1]);
    for (const entry of body.slice(0, from)) if (entry[0] !== '+') oldLine++;
    const region = body.slice(from, last + 1);
    const oldCount = region.filter((entry) => entry[0] !== '+').length;
    suggestions.push({
      path,
      startLine: oldLine,
      endLine: oldLine + oldCount - 1,
      replacement: region.filter((entry) => entry[0] !== '-').map((entry) => entry.slice(1)),
    });
  }
  return suggestions;
}

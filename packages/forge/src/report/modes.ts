import { FIX_BRANCH_PREFIX, type ForgeReport, type ReportMode } from '@ci-fixer/contract';
import { describeStatus, statusOf } from '../errors.ts';
import type { ReportInput } from './render.ts';

/** What a forge must offer for ci-fixer to report on it. */
export interface Reporter {
  /** Creates or updates ci-fixer's comment on the change request, or comments on the commit without one. */
  upsertComment(body: string): Promise<string | undefined>;
  /** Opens a pull/merge request from `branch` into the failing branch; returns its URL. */
  openChangeRequest(branch: string, title: string, body: string): Promise<string | undefined>;
  /** A GitHub check run, or a GitLab commit status. */
  checkRun(title: string, summary: string): Promise<string | undefined>;
  /** Re-runs the run's failed jobs. */
  rerunFailed(jobIds: number[]): Promise<void>;
  /** Extra feedback after a comment, such as suggestion blocks; failures are ignored. */
  afterComment?(input: ReportInput): Promise<void>;
  pushFix(branch: string, message: string): Promise<{ commitSha: string }>;
}

export interface ReportOptions {
  mode: ReportMode;
  rerunFlaky: boolean;
}

export function fixBranch(input: ReportInput): string {
  return `${FIX_BRANCH_PREFIX}${input.source.headSha.slice(0, 8)}-${input.source.runId}`;
}

function commitMessage(input: ReportInput): string {
  const { source, result } = input;
  return [
    `ci-fixer: ${result.strategy ?? 'fix'} for ${source.workflowPath ?? 'pipeline'} run ${source.runId}`,
    '',
    result.reason,
    ...(source.runUrl ? ['', `Run: ${source.runUrl}`] : []),
  ].join('\n');
}

/**
 * Reports a finished fix in the configured mode. Never throws: a forge that refuses (403, 404, …) fails
 * the report with a reason, and the fix result stands.
 */
export async function report(
  reporter: Reporter,
  input: ReportInput,
  options: ReportOptions,
  render: (input: ReportInput) => string,
  title: string,
): Promise<ForgeReport> {
  const { mode } = options;
  const { result, source } = input;
  try {
    if (result.outcome === 'not_reproducible' && options.rerunFlaky && input.context) {
      await reporter.rerunFailed(input.context.failedJobIds);
      input = { ...input, rerun: true };
    }
    const extra = input.rerun ? { rerun: true } : {};
    if (mode === 'none') {
      return { mode, status: 'skipped', detail: 'report mode is none; the result is in the API', ...extra };
    }
    if (mode === 'check-run') {
      const url = await reporter.checkRun(title, render(input));
      return { mode, status: 'reported', detail: 'check run created', ...(url ? { url } : {}), ...extra };
    }
    const fixed = result.outcome === 'fixed' && result.patch !== null;
    // A fork's commit is the fork author's code: pushed into this repository (as a commit or a fix branch),
    // its push-triggered workflows would run with this repository's secrets. A fork only gets a comment.
    const writable = fixed && !source.fork;
    if (mode === 'push' && writable) {
      if (!source.headBranch)
        return { mode, status: 'failed', detail: 'the run is not on a branch to push to' };
      const pushed = await reporter.pushFix(source.headBranch, commitMessage(input));
      const url = await reporter.upsertComment(
        render({ ...input, pushed: { branch: source.headBranch, ...pushed } }),
      );
      return {
        mode,
        status: 'reported',
        detail: `pushed ${pushed.commitSha.slice(0, 12)} onto ${source.headBranch}`,
        ...(url ? { url } : {}),
      };
    }
    if (mode === 'pull-request' && writable) {
      if (!source.headBranch)
        return {
          mode,
          status: 'failed',
          detail: 'the run is not on a branch to open a pull request against',
        };
      const branch = fixBranch(input);
      const pushed = await reporter.pushFix(branch, commitMessage(input));
      const url = await reporter.openChangeRequest(
        branch,
        title,
        render({ ...input, pushed: { branch, ...pushed } }),
      );
      return {
        mode,
        status: 'reported',
        detail: `pushed ${branch} and opened a pull request`,
        ...(url ? { url } : {}),
      };
    }
    // `comment`, and the other modes when there is nothing to push: say what happened where people look.
    const url = await reporter.upsertComment(render(input));
    if (fixed) await reporter.afterComment?.(input).catch(() => {});
    return {
      mode,
      status: 'reported',
      detail:
        mode === 'comment'
          ? 'commented'
          : fixed
            ? `commented (${mode} is never used for a fork's run)`
            : `commented (nothing to push: ${result.outcome})`,
      ...(url ? { url } : {}),
      ...extra,
    };
  } catch (error) {
    const status = statusOf(error);
    const detail =
      status !== undefined
        ? `${describeStatus(status)}: ${(error as Error).message}`
        : (error as Error).message;
    return { mode, status: 'failed', detail, ...(input.rerun ? { rerun: true } : {}) };
  }
}

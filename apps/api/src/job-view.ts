import type { Job, JobState } from 'bullmq';
import {
  type FixJobData,
  type FixResult,
  type JobProgress,
  type JobStatus,
  type Outcome,
} from '@ci-fixer/contract';
import { CANCELLED_REASON } from '@ci-fixer/queue';
import { redact } from '@ci-fixer/logger';
import type { JobSummary } from './job-list.ts';

/** A fix job as the REST API shows it: its summary in the list, and what the fix found and did. */
export interface JobView extends JobSummary {
  diagnosis: FixResult['diagnosis'];
  patch: string | null;
  strategy: string | null;
  baseSha: string | null;
  steps: FixResult['steps'];
}

/**
 * A job's status from its BullMQ state, its outcome (once its result is read) and its failure reason; the
 * one rule for the job view and the list.
 */
export function statusFrom(
  // `wait`: the list reads BullMQ's own key names, where getState() says `waiting`.
  state: JobState | 'wait' | 'unknown',
  outcome: Outcome | undefined,
  failedReason: string | undefined,
  cancelRequested: boolean,
): JobStatus {
  // Job data and state are read separately; a job that finished between the two reads is still finishing.
  if (state === 'completed') return outcome ?? 'running';
  if (state === 'failed') return failedReason === CANCELLED_REASON ? 'cancelled' : 'failed';
  // A job cancelled while queued stays in the queue until a worker drops it; it will never run.
  if (cancelRequested) return 'cancelled';
  return state === 'active' ? 'running' : 'queued';
}

export function toJobView(
  job: Job<FixJobData>,
  state: JobState | 'unknown',
  cancelRequested: boolean,
): JobView {
  const status = statusFrom(
    state,
    (job.returnvalue as FixResult | null)?.outcome,
    job.failedReason,
    cancelRequested,
  );
  const result =
    status === 'fixed' || status === 'unfixable' || status === 'not_reproducible'
      ? (job.returnvalue as FixResult)
      : undefined;
  const progress = typeof job.progress === 'object' ? (job.progress as unknown as JobProgress) : undefined;
  const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);
  // Reasons, diagnoses and log tails quote what commands printed, which may include credentials. The
  // patch stays as it is: it must apply, and it holds only what the repository's own files hold.
  const view = redact({
    id: job.id!,
    status,
    stage: progress?.stage ?? null,
    repo: (progress?.request ?? job.data.request).repo,
    command: (progress?.request ?? job.data.request).command,
    createdAt: new Date(job.timestamp).toISOString(),
    startedAt: iso(job.processedOn),
    finishedAt: iso(job.finishedOn),
    attempts: job.attemptsMade,
    reason: result?.reason ?? (state === 'failed' && status === 'failed' ? job.failedReason : null),
    diagnosis: result?.diagnosis ?? null,
    strategy: result?.strategy ?? null,
    baseSha: result?.baseSha ?? null,
    steps: result?.steps ?? progress?.steps ?? [],
  }) as Omit<JobView, 'patch'>;
  return { ...view, patch: result?.patch ?? null };
}

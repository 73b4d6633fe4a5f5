import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '@ci-fixer/config';
import { fixInSandbox } from '@ci-fixer/fix-engine';
import { PermanentError, type FixJobData, type FixResult } from '@ci-fixer/contract';
import { CANCELLED_REASON, isCancellationRequested } from '@ci-fixer/queue';
import type { Logger } from '@ci-fixer/logger';
import { passthrough, sandboxLimits, type SandboxDriver } from '@ci-fixer/sandbox';
import { admitJob } from './admission.ts';
import { forBullMQ, sortFailure } from './failure.ts';
import type { FinishedRuns } from './finished-runs.ts';
import { forgeSettings, prepareForgeJob } from './forge-job.ts';
import { recordResult, type WorkerMetrics } from './metrics.ts';

/** Why the worker aborted a job it was running; anything else that aborts it is the fix timeout. */
export const ABORT_REASONS = { cancelled: 'cancelled', shutdown: 'shutdown' } as const;

export interface ProcessorDependencies {
  config: Config;
  driver: SandboxDriver;
  redis: Redis;
  logger: Logger;
  workerId: string;
  /** Labels every sandbox of this worker carries besides its owner: the deployment it belongs to. */
  ownership: Record<string, string>;
  /** Hosts sandboxes may reach besides the job's git host (SANDBOX_EGRESS_ALLOW, registries expanded). */
  egress: readonly string[];
  /** Results of earlier deliveries of a job that ran but did not complete (finished-runs.ts). */
  finishedRuns: FinishedRuns;
  metrics?: WorkerMetrics;
}

export type FixProcessor = (job: Job<FixJobData>, token?: string, signal?: AbortSignal) => Promise<FixResult>;

/**
 * Runs one fix job in a fresh sandbox (fixInSandbox destroys it, however the job ends). How an attempt
 * failed decides what BullMQ does next (failure.ts): permanent errors end the job at once, platform
 * errors are retried with backoff.
 */
export function createProcessor({
  config,
  driver,
  redis,
  logger,
  workerId,
  ownership,
  egress,
  finishedRuns,
  metrics,
}: ProcessorDependencies): FixProcessor {
  const forge = forgeSettings(config, metrics);
  const inherited = passthrough(config.SANDBOX_ENV_PASSTHROUGH);
  // Three declared parameters: BullMQ hands a cancellation signal only to processors that take one.
  return async (job, token, signal) => {
    const log = logger.child({ jobId: job.id, attempt: job.attemptsMade + 1 });
    const timeout = AbortSignal.timeout(config.FIX_TIMEOUT_SECONDS * 1000);
    try {
      return await attempt(job, log, signal ? AbortSignal.any([signal, timeout]) : timeout);
    } catch (error) {
      if (signal?.aborted && signal.reason === ABORT_REASONS.shutdown && token) {
        log.info('worker is shutting down; handing the job back to the queue');
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (signal?.aborted) {
        log.info('job cancelled while running');
        throw new UnrecoverableError(CANCELLED_REASON);
      }
      if (timeout.aborted) {
        throw new UnrecoverableError(
          `the fix ran longer than FIX_TIMEOUT_SECONDS (${config.FIX_TIMEOUT_SECONDS}s)`,
        );
      }
      if (error instanceof UnrecoverableError) throw error;
      const sorted = sortFailure(error);
      const details = { error: sorted.message, ...sorted.context, cause: sorted.cause };
      if (sorted instanceof PermanentError)
        log.warn('job failed for good; it is not retried', { kind: sorted.kind, ...details });
      else
        log.warn('platform error; the job is retried while attempts remain', {
          fault: sorted.fault,
          ...details,
        });
      throw forBullMQ(sorted);
    }
  };

  async function attempt(job: Job<FixJobData>, log: Logger, abort: AbortSignal): Promise<FixResult> {
    admitJob(job, config);
    if (await isCancellationRequested(redis, job.id!)) {
      log.info('job was cancelled while queued; dropping it');
      throw new UnrecoverableError(CANCELLED_REASON);
    }
    const { source } = job.data;
    const earlier = await finishedRuns.load(job.id!);
    if (earlier && (earlier.stage === 'reported' || !source)) {
      log.info('an earlier delivery of this job finished; completing it with that result', {
        outcome: earlier.result.outcome,
      });
      return earlier.result;
    }
    // A webhook job learns its command from the forge first, and reports its result back at the end.
    const forgeJob = source
      ? await prepareForgeJob(job, source, { config, settings: forge, log, metrics })
      : undefined;
    if (forgeJob?.kind === 'done') {
      await finishedRuns.save(job.id!, { stage: 'reported', result: forgeJob.result });
      return forgeJob.result;
    }
    const request = forgeJob?.request ?? job.data.request;
    let result: FixResult;
    if (earlier) {
      log.info('an earlier delivery of this job finished its fix; reporting that result', {
        outcome: earlier.result.outcome,
      });
      result = earlier.result;
    } else {
      log.info('fix started', { repo: request.repo.url, command: request.command });
      result = await fixInSandbox(driver, request, {
        owner: workerId,
        jobId: job.id!,
        labels: ownership,
        env: inherited.env,
        hostFiles: inherited.files,
        egress,
        ...(config.DEPENDENCY_CACHE_DIR
          ? { cache: { root: config.DEPENDENCY_CACHE_DIR, scope: config.DEPENDENCY_CACHE_SCOPE } }
          : {}),
        maxLifetimeSeconds: config.FIX_TIMEOUT_SECONDS + 60,
        onSandbox: (sandbox, createMs) => {
          metrics?.sandboxCreateSeconds.observe(createMs / 1000);
          log.info('sandbox created', { sandbox: sandbox.id });
        },
        commandTimeoutMs: config.SANDBOX_COMMAND_TIMEOUT_SECONDS * 1000,
        limits: sandboxLimits(config),
        patchGuard: config,
        signal: abort,
        // A webhook job's recovered command goes with its progress: job data stays as the API signed it.
        onProgress: (progress) => job.updateProgress({ ...progress, ...(forgeJob ? { request } : {}) }),
        ...(forgeJob ? { gitAuthHeader: forgeJob.gitAuthHeader } : {}),
        ...agentOptions(config),
      });
      log.info('fix finished', { outcome: result.outcome, reason: result.reason });
      if (metrics) recordResult(metrics, result);
      await finishedRuns.save(job.id!, { stage: 'fixed', result });
    }
    if (!forgeJob) return result;
    const reported = await forgeJob.finish(result);
    await finishedRuns.save(job.id!, { stage: 'reported', result: reported });
    return reported;
  }
}

/** The fix agent runs only when a model endpoint, key and model are all configured. */
function agentOptions(config: Config) {
  if (!config.LLM_BASE_URL || !config.LLM_API_KEY || !config.LLM_MODEL) return {};
  return {
    agent: {
      baseURL: config.LLM_BASE_URL,
      apiKey: config.LLM_API_KEY,
      model: config.LLM_MODEL,
      maxSteps: config.LLM_MAX_STEPS,
      maxTokens: config.LLM_MAX_TOKENS,
      maxWallMs: config.LLM_MAX_SECONDS * 1000,
      maxRetries: config.LLM_MAX_RETRIES,
    },
  };
}

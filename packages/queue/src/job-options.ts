import type { DefaultJobOptions } from 'bullmq';

export interface RetryAndRetention {
  attempts: number;
  backoffMs: number;
  retentionCount: number;
  retentionSeconds: number;
}

/**
 * Options every fix job is added with. Retries are for platform errors only: the worker turns outcomes
 * into completed jobs and cancellations into unrecoverable errors, so neither is retried.
 */
export function fixJobOptions(settings: RetryAndRetention): DefaultJobOptions {
  const retention = { age: settings.retentionSeconds, count: settings.retentionCount };
  return {
    attempts: settings.attempts,
    backoff: { type: 'exponential', delay: settings.backoffMs },
    removeOnComplete: retention,
    removeOnFail: retention,
  };
}

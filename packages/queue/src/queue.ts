/**
 * Where fix jobs live in Redis. The API, the worker, the Helm chart's KEDA triggers and Bull Board all
 * derive their names from these two constants.
 */
export const QUEUE_PREFIX = 'ci-fixer';
export const QUEUE_NAME = 'fix-jobs';

/** BullMQ's backlog: LLEN of `wait` plus ZCARD of `prioritized` is the number of jobs waiting for a worker. */
export const backlogKeys = {
  wait: `${QUEUE_PREFIX}:${QUEUE_NAME}:wait`,
  prioritized: `${QUEUE_PREFIX}:${QUEUE_NAME}:prioritized`,
} as const;

/** Channel on which the API asks workers to cancel a job they are running. */
export const CANCEL_CHANNEL = `${QUEUE_PREFIX}:cancel`;

/** Marks a job as cancelled so that a worker that dequeues it later drops it instead of running it. */
export const cancelKey = (jobId: string) => `${QUEUE_PREFIX}:cancelled:${jobId}`;

/** A worker's liveness; sandboxes whose owner has no heartbeat key are reaped. */
export const heartbeatKey = (workerId: string) => `${QUEUE_PREFIX}:worker:${workerId}`;

/** A run of a job that finished (and perhaps reported) but may not have completed in BullMQ. */
export const finishedRunKey = (jobId: string) => `${QUEUE_PREFIX}:finished-run:${jobId}`;

/** The failure reason of a job that ended because somebody cancelled it. */
export const CANCELLED_REASON = 'cancelled';

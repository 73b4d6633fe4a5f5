import type { Redis } from 'ioredis';
import { CANCEL_CHANNEL, cancelKey } from './queue.ts';

/**
 * Asks for a job to stop. The mark makes a worker that dequeues the job later drop it; the message makes
 * the worker running it now abort it. Both go in one transaction, so no worker sees one without the other.
 */
export async function requestCancellation(
  redis: Redis,
  jobId: string,
  markTtlSeconds: number,
): Promise<void> {
  await redis.multi().set(cancelKey(jobId), '1', 'EX', markTtlSeconds).publish(CANCEL_CHANNEL, jobId).exec();
}

export async function isCancellationRequested(redis: Redis, jobId: string): Promise<boolean> {
  return (await redis.exists(cancelKey(jobId))) === 1;
}

/** Calls `onCancel` with each job id whose cancellation is requested from now on. */
export async function subscribeToCancellations(
  subscriber: Redis,
  onCancel: (jobId: string) => void,
): Promise<void> {
  subscriber.on('message', (channel: string, jobId: string) => {
    if (channel === CANCEL_CHANNEL) onCancel(jobId);
  });
  await subscriber.subscribe(CANCEL_CHANNEL);
}

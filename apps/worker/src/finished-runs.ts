import type { Redis } from 'ioredis';
import { signRecord, verifyRecord, type FixResult } from '@ci-fixer/contract';
import { finishedRunKey } from '@ci-fixer/queue';

/**
 * How far an earlier delivery of a job got: its fix ended (`fixed` here means the fix stage is over,
 * whatever the outcome) or its result was also reported to the forge.
 */
export type FinishedRun = { stage: 'fixed' | 'reported'; result: FixResult };

const SCOPE = 'finished-run';

/**
 * BullMQ delivers a job at least once: a worker whose lock lapsed (a Redis restart or failover, a stall)
 * cannot complete the job it ran, and the job is delivered again. Each run's result is kept here as soon as
 * its fix ends and again once it is reported, until the job has completed, so the next delivery goes on from
 * there instead of running the fix again and reporting twice. Records are signed like job data: whoever can
 * write to Redis cannot plant a result.
 */
export class FinishedRuns {
  private readonly redis: Redis;
  private readonly signingKey: string | undefined;
  private readonly ttlSeconds: number;

  constructor(redis: Redis, { signingKey, ttlSeconds }: { signingKey?: string; ttlSeconds: number }) {
    this.redis = redis;
    this.signingKey = signingKey;
    this.ttlSeconds = ttlSeconds;
  }

  /** The earlier delivery's record; undefined when there is none or its signature does not match. */
  async load(jobId: string): Promise<FinishedRun | undefined> {
    const stored = await this.redis.get(finishedRunKey(jobId));
    if (!stored) return undefined;
    const { run, signature } = JSON.parse(stored) as { run: FinishedRun; signature?: string };
    if (this.signingKey && !verifyRecord(SCOPE, jobId, run, signature, this.signingKey)) return undefined;
    return run;
  }

  async save(jobId: string, run: FinishedRun): Promise<void> {
    const signature = this.signingKey ? signRecord(SCOPE, jobId, run, this.signingKey) : undefined;
    await this.redis.set(finishedRunKey(jobId), JSON.stringify({ run, signature }), 'EX', this.ttlSeconds);
  }

  /** Once BullMQ has the job completed, its record has done its work. */
  async forget(jobId: string): Promise<void> {
    await this.redis.del(finishedRunKey(jobId));
  }
}

import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { heartbeatKey } from '@ci-fixer/queue';

/**
 * This worker's lease in Redis (a key with a TTL, renewed every TTL/3), and its judgement of other workers'
 * leases. Sandboxes are labelled with the worker id; a sandbox whose owner's lease has lapsed belongs to a
 * dead worker and may be reaped.
 *
 * A missing lease is evidence only when this worker itself has renewed its own lease without a gap for
 * longer than the TTL: while Redis was down, restarting or failing over, every lease lapsed at once (and a
 * Redis restored from its AOF drops the expired keys), so right after an outage silence says nothing about
 * whether the owner lives. Live owners renew within TTL/3 of Redis coming back; waiting a full TTL of
 * unbroken renewals before judging gives each of them that chance.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private readonly redis: Redis;
  private readonly workerId: string;
  private readonly ttlMs: number;
  private readonly intervalMs: number;
  /**
   * A renewal later than this after the previous one means Redis (or this process) was away long enough
   * for a live owner's lease to lapse: an owner renewing every TTL/3 loses its lease only to an outage
   * longer than 2/3 of the TTL, and such an outage leaves at least that gap between this worker's renewals.
   */
  private readonly maxGapMs: number;
  /** Monotonic times: when the current run of gap-free renewals began, and its latest renewal. */
  private streakStart: number | undefined;
  private lastRenewal: number | undefined;
  private readonly onConnectionLost = () => {
    this.streakStart = undefined;
  };

  constructor(redis: Redis, workerId: string, ttlMs: number) {
    this.redis = redis;
    this.workerId = workerId;
    this.ttlMs = ttlMs;
    this.intervalMs = Math.max(250, Math.floor(ttlMs / 3));
    this.maxGapMs = Math.max(this.intervalMs * 1.5, (ttlMs * 2) / 3);
  }

  async start(): Promise<void> {
    this.redis.on('close', this.onConnectionLost);
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch(() => {}), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.redis.off('close', this.onConnectionLost);
    this.streakStart = undefined;
    await this.redis.del(heartbeatKey(this.workerId));
  }

  /** Whether a missing lease may be read as a dead owner now (see the class comment). */
  canJudgeOthers(): boolean {
    if (this.streakStart === undefined || this.lastRenewal === undefined) return false;
    const now = performance.now();
    return now - this.lastRenewal <= this.maxGapMs && now - this.streakStart >= this.ttlMs;
  }

  /**
   * Whether the owner of a sandbox may still live. Without evidence (see canJudgeOthers) the answer is yes;
   * the judgement is made again after the read, since an outage during it would make its answer stale.
   */
  async isOwnerAlive(owner: string): Promise<boolean> {
    if (!this.canJudgeOthers()) return true;
    const leased = (await this.redis.exists(heartbeatKey(owner))) === 1;
    return leased || !this.canJudgeOthers();
  }

  private async beat(): Promise<void> {
    try {
      await this.redis.set(heartbeatKey(this.workerId), new Date().toISOString(), 'PX', this.ttlMs);
    } catch (error) {
      this.streakStart = undefined;
      throw error;
    }
    const now = performance.now();
    if (
      this.streakStart === undefined ||
      this.lastRenewal === undefined ||
      now - this.lastRenewal > this.maxGapMs
    ) {
      this.streakStart = now;
    }
    this.lastRenewal = now;
  }
}

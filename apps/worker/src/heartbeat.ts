import type { Redis } from 'ioredis';
import { heartbeatKey } from '@ci-fixer/jobs';

/**
 * Keeps a key alive in Redis while this worker lives. Sandboxes are labelled with the worker id, and a
 * sandbox whose owner's key has expired belongs to a dead worker.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private readonly redis: Redis;
  private readonly workerId: string;
  private readonly ttlMs: number;

  constructor(redis: Redis, workerId: string, ttlMs: number) {
    this.redis = redis;
    this.workerId = workerId;
    this.ttlMs = ttlMs;
  }

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(
      () => void this.beat().catch(() => {}),
      Math.max(250, Math.floor(this.ttlMs / 3)),
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.del(heartbeatKey(this.workerId));
  }

  private async beat(): Promise<void> {
    await this.redis.set(heartbeatKey(this.workerId), new Date().toISOString(), 'PX', this.ttlMs);
  }
}

export async function isWorkerAlive(redis: Redis, workerId: string): Promise<boolean> {
  return (await redis.exists(heartbeatKey(workerId))) === 1;
}

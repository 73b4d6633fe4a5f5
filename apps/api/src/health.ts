import { Router } from 'express';
import type { Redis } from 'ioredis';
import { sendProblem } from './problem.ts';
import type { RedisReachability } from './redis-reachability.ts';

export const HEALTH_PATHS = { live: '/healthz', ready: '/readyz' } as const;

/** Liveness says the process serves HTTP; readiness says it can reach Redis, without which it can accept nothing. */
export function healthRoutes(redis: Redis, reachability: RedisReachability, timeoutMs = 1000): Router {
  const router = Router();
  router.get(HEALTH_PATHS.live, (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get(HEALTH_PATHS.ready, async (_req, res) => {
    try {
      await Promise.race([
        redis.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), timeoutMs).unref()),
      ]);
      res.json({ status: 'ready' });
    } catch (error) {
      const detail = reachability.ready
        ? `Redis at ${reachability.where} does not answer PING (${(error as Error).message})`
        : reachability.describe();
      sendProblem(res, 503, 'Service Unavailable', detail);
    }
  });
  return router;
}

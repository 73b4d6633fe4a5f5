/**
 * Container health of a worker: exits 0 while a heartbeat key of a worker on this host (container) lives in
 * Redis, 1 otherwise. The worker serves no HTTP; its heartbeat (apps/worker/src/heartbeat.ts) is the signal
 * that it runs, reaches Redis and keeps its jobs. Used by Dockerfile.worker's HEALTHCHECK and the chart's
 * liveness probe:  node scripts/worker-healthcheck.ts
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { heartbeatKey } from '../packages/queue/src/queue.ts';

// Images install only the worker's dependencies (pnpm --filter), so resolve ioredis from the worker package.
const { Redis } = createRequire(new URL('../apps/worker/package.json', import.meta.url))(
  'ioredis',
) as typeof import('ioredis');

// Worker ids are `<hostname>-<pid>-<random>` made label-safe and cut to 63 characters (apps/worker/src/worker.ts);
// the first 40 characters of the label-safe hostname are always intact.
const hostPrefix = os
  .hostname()
  .replace(/[^A-Za-z0-9_.-]+/g, '-')
  .replace(/^[^A-Za-z0-9]+/, '')
  .slice(0, 40);

async function heartbeatExists(redis: InstanceType<typeof Redis>): Promise<boolean> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${heartbeatKey(hostPrefix)}*`, 'COUNT', 1000);
    if (keys.length > 0) return true;
    cursor = next;
  } while (cursor !== '0');
  return false;
}

const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379', {
  lazyConnect: true,
  maxRetriesPerRequest: 1,
  connectTimeout: 3000,
  enableOfflineQueue: false,
});
redis.on('error', () => {});
const timer = setTimeout(() => {
  process.stderr.write('worker-healthcheck: Redis did not answer within 5 s\n');
  process.exit(1);
}, 5000);
try {
  await redis.connect();
  const alive = await heartbeatExists(redis);
  process.stdout.write(
    alive ? `worker heartbeat found (${hostPrefix})\n` : `no worker heartbeat for ${hostPrefix}\n`,
  );
  process.exitCode = alive ? 0 : 1;
} catch (error) {
  process.stderr.write(`worker-healthcheck: ${(error as Error).message}\n`);
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  redis.disconnect();
}

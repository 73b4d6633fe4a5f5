import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type { Config } from '@ci-fixer/config';
import { QUEUE_NAME, QUEUE_PREFIX, fixJobOptions } from '@ci-fixer/queue';
import type { Logger } from '@ci-fixer/logger';
import { createApp } from './app.ts';
import { FixQueue } from './fix-queue.ts';

export interface RunningApi {
  /** Where it listens, e.g. http://127.0.0.1:3000. */
  url: string;
  queue: FixQueue;
  close(): Promise<void>;
}

/** The API on its own Redis connection and queue handle, listening on HOST:PORT (PORT 0 picks a free one). */
export async function startApi(config: Config, token: string, logger: Logger): Promise<RunningApi> {
  // No offline queue: while Redis is away, requests fail fast with 503 instead of piling up in memory.
  const redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', (error) => logger.warn('redis connection error', { error: error.message }));
  const queue = new FixQueue(
    QUEUE_NAME,
    {
      connection: redis,
      prefix: QUEUE_PREFIX,
      defaultJobOptions: fixJobOptions({
        attempts: config.JOB_ATTEMPTS,
        backoffMs: config.JOB_BACKOFF_MS,
        retentionCount: config.JOB_RETENTION_COUNT,
        retentionSeconds: config.JOB_RETENTION_SECONDS,
      }),
    },
    config.CI_FIXER_JOB_SIGNING_KEY,
    {
      maxQueuedPerRepo: config.API_MAX_QUEUED_PER_REPO,
      maxQueuedPerInstallation: config.API_MAX_QUEUED_PER_INSTALLATION,
    },
  );
  queue.on('error', (error) => logger.warn('queue error', { error: error.message }));

  const app = createApp({ config, token, queue, redis, logger });
  // Not app.listen: Express 5 calls its callback on a failed listen too, with the error as argument.
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  logger.info('api listening', { url, dashboard: `${url}/admin/queues` });

  return {
    url,
    queue,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queue.close().catch(() => {});
      redis.disconnect();
    },
  };
}

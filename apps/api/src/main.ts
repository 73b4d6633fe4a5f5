import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ConfigError, loadConfig, type Config } from '@ci-fixer/config';
import { QUEUE_NAME, QUEUE_PREFIX, fixJobOptions, type FixJobData } from '@ci-fixer/jobs';
import { createLogger } from '@ci-fixer/logger';
import { createApp } from './app.ts';

function loadOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`ci-fixer api: ${error.message}\n`);
    process.exit(2);
  }
}

/** The configured token; outside production a missing one is generated and shown once, never left open. */
function resolveToken(config: Config): string {
  if (config.CI_FIXER_API_TOKEN) return config.CI_FIXER_API_TOKEN;
  if (config.NODE_ENV === 'production') {
    process.stderr.write(
      'ci-fixer api: CI_FIXER_API_TOKEN is required when NODE_ENV=production; generate one with `openssl rand -hex 32`\n',
    );
    process.exit(2);
  }
  const token = randomBytes(24).toString('hex');
  process.stderr.write(
    `\nci-fixer api: CI_FIXER_API_TOKEN is not set, so this run uses a generated token:\n\n    ${token}\n\n` +
      'Send it as `Authorization: Bearer <token>`, or sign in to the dashboard with it. Set CI_FIXER_API_TOKEN to keep one.\n\n',
  );
  return token;
}

const config = loadOrExit();
const logger = createLogger({ service: 'api', level: config.LOG_LEVEL });
const token = resolveToken(config);

// No offline queue: while Redis is away, requests fail fast with 503 instead of piling up in memory.
const redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
redis.on('error', (error) => logger.warn('redis connection error', { error: error.message }));
const queue = new Queue<FixJobData>(QUEUE_NAME, {
  connection: redis,
  prefix: QUEUE_PREFIX,
  defaultJobOptions: fixJobOptions({
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
    retentionCount: config.JOB_RETENTION_COUNT,
    retentionSeconds: config.JOB_RETENTION_SECONDS,
  }),
});
queue.on('error', (error) => logger.warn('queue error', { error: error.message }));

const app = createApp({ config, token, queue, redis, logger });
const server = app.listen(config.PORT, config.HOST, () => {
  logger.info('api listening', { url: `http://${config.HOST}:${config.PORT}`, dashboard: '/admin/queues' });
});
server.on('error', (error) => {
  logger.error('api cannot listen', { error: error.message, port: config.PORT, host: config.HOST });
  process.exit(1);
});

async function shutdown(signal: string): Promise<void> {
  logger.info('api shutting down', { signal });
  server.close();
  await queue.close().catch(() => {});
  redis.disconnect();
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

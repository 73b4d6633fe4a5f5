import express, { type Express } from 'express';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '@ci-fixer/config';
import type { FixJobData } from '@ci-fixer/jobs';
import type { Logger } from '@ci-fixer/logger';
import { requireToken } from './auth.ts';
import { dashboardRoutes } from './dashboard.ts';
import { healthRoutes } from './health.ts';
import { createApiMetrics, type ApiMetrics } from './metrics.ts';
import { errorHandler, notFound } from './problem.ts';
import { fixJobRoutes } from './routes/fix-jobs.ts';
import { webhookRoutes } from './webhooks/index.ts';

export interface AppDependencies {
  config: Config;
  token: string;
  queue: Queue<FixJobData>;
  redis: Redis;
  logger: Logger;
  /** Defaults to a fresh registry; pass one to share it. */
  metrics?: ApiMetrics;
}

export function createApp({
  config,
  token,
  queue,
  redis,
  logger,
  metrics = createApiMetrics(queue),
}: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback, linklocal, uniquelocal');

  app.use(healthRoutes(redis));
  // Webhooks verify signatures over the raw body, so they must see it before any JSON parser does.
  app.use('/webhooks', webhookRoutes({ config, queue, redis, logger, metrics }));
  // Behind the API token like the REST API: Prometheus sends it as `authorization: credentials`.
  app.get('/metrics', requireToken(token), async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use(dashboardRoutes({ queue, token, readOnly: config.BULL_BOARD_READ_ONLY }));
  app.use(
    '/v1/fix-jobs',
    requireToken(token),
    express.json({ limit: config.API_MAX_BODY_BYTES, strict: true }),
    fixJobRoutes({
      queue,
      redis,
      repoPolicy: {
        allowFileRepos: config.CI_FIXER_ALLOW_FILE_REPOS,
        allowedHosts: config.CI_FIXER_REPO_HOSTS,
      },
      cancelMarkTtlSeconds: config.JOB_RETENTION_SECONDS,
      listScanLimit: config.JOB_RETENTION_COUNT * 2 + 10_000,
    }),
  );
  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}

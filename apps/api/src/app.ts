import express, { type Express } from 'express';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '@ci-fixer/config';
import type { FixJobData } from '@ci-fixer/jobs';
import type { Logger } from '@ci-fixer/logger';
import { requireToken } from './auth.ts';
import { dashboardRoutes } from './dashboard.ts';
import { healthRoutes } from './health.ts';
import { errorHandler, notFound } from './problem.ts';
import { fixJobRoutes } from './routes/fix-jobs.ts';

export interface AppDependencies {
  config: Config;
  token: string;
  queue: Queue<FixJobData>;
  redis: Redis;
  logger: Logger;
}

export function createApp({ config, token, queue, redis, logger }: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback, linklocal, uniquelocal');

  app.use(healthRoutes(redis));
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

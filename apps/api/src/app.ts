import express, { type Express } from 'express';
import type { Redis } from 'ioredis';
import type { Config } from '@ci-fixer/config';
import type { Logger } from '@ci-fixer/logger';
import { bearer, requireToken, SessionStore } from './auth.ts';
import { dashboardRoutes } from './dashboard.ts';
import type { FixQueue } from './fix-queue.ts';
import { addressKey, requestLimit, tokenKey } from './limits.ts';
import { healthRoutes } from './health.ts';
import { RedisReachability } from './redis-reachability.ts';
import { createApiMetrics, type ApiMetrics } from './metrics.ts';
import { errorHandler, notFound } from './problem.ts';
import { fixJobRoutes } from './routes/fix-jobs.ts';
import { webhookRoutes } from './webhooks/index.ts';

export interface AppDependencies {
  config: Config;
  token: string;
  queue: FixQueue;
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

  const window = config.API_RATE_LIMIT_WINDOW_SECONDS;
  // Counted before authentication, so a flood of bad tokens is bounded too.
  const perAddress = requestLimit({
    redis,
    name: 'per-address',
    what: 'requests from this address',
    setting: 'API_ADDRESS_REQUESTS_PER_WINDOW',
    limit: config.API_ADDRESS_REQUESTS_PER_WINDOW,
    windowSeconds: window,
    key: addressKey,
  });
  // Counted after authentication, so only the token's holder spends it.
  const perToken = requestLimit({
    redis,
    name: 'per-token',
    what: 'requests with this token',
    setting: 'API_TOKEN_REQUESTS_PER_WINDOW',
    limit: config.API_TOKEN_REQUESTS_PER_WINDOW,
    windowSeconds: window,
    key: (req) => tokenKey(bearer(req) ?? ''),
  });
  const authenticated = [perAddress, requireToken(token), perToken];

  const reachability = new RedisReachability(redis);
  app.use(healthRoutes(redis, reachability));
  // Webhooks verify signatures over the raw body, so they must see it before any JSON parser does.
  app.use('/webhooks', webhookRoutes({ config, queue, redis, logger, metrics }));
  // Behind the API token like the REST API: Prometheus sends it as `authorization: credentials`.
  app.get('/metrics', ...authenticated, async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use('/admin', perAddress);
  app.use(
    dashboardRoutes({
      queue,
      redis,
      token,
      sessions: new SessionStore(redis, token, config.API_SESSION_TTL_SECONDS),
      readOnly: config.BULL_BOARD_READ_ONLY,
      production: config.NODE_ENV === 'production',
      signIn: {
        maxFailures: config.API_SIGN_IN_MAX_FAILURES,
        windowSeconds: config.API_SIGN_IN_WINDOW_SECONDS,
      },
    }),
  );
  app.use(
    '/v1/fix-jobs',
    ...authenticated,
    express.json({ limit: config.API_MAX_BODY_BYTES, strict: true }),
    fixJobRoutes({
      queue,
      redis,
      reachability,
      repoPolicy: {
        allowFileRepos: config.CI_FIXER_ALLOW_FILE_REPOS,
        allowedHosts: config.CI_FIXER_REPO_HOSTS,
      },
      cancelMarkTtlSeconds: config.JOB_RETENTION_SECONDS,
      maxJobBytes: config.API_MAX_JOB_BYTES,
    }),
  );
  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}

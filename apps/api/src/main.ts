import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig, secretValues, type Config } from '@ci-fixer/config';
import { addSecretValues, createLogger } from '@ci-fixer/logger';
import { startApi } from './server.ts';

function fail(message: string): never {
  process.stderr.write(`ci-fixer api: ${message}\n`);
  process.exit(2);
}

function loadOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

/** The configured token; outside production a missing one is generated and shown once, never left open. */
function resolveToken(config: Config): string {
  if (config.CI_FIXER_API_TOKEN) return config.CI_FIXER_API_TOKEN;
  if (config.NODE_ENV === 'production') {
    fail('CI_FIXER_API_TOKEN is required when NODE_ENV=production; generate one with `openssl rand -hex 32`');
  }
  const token = randomBytes(24).toString('hex');
  process.stderr.write(
    `\nci-fixer api: CI_FIXER_API_TOKEN is not set, so this run uses a generated token:\n\n    ${token}\n\n` +
      'Send it as `Authorization: Bearer <token>`, or sign in to the dashboard with it. Set CI_FIXER_API_TOKEN to keep one.\n\n',
  );
  return token;
}

const config = loadOrExit();
// From here on the configured secrets' values are redacted wherever they appear (logs, job records).
addSecretValues(secretValues(config));
if (config.NODE_ENV === 'production' && !config.CI_FIXER_JOB_SIGNING_KEY) {
  fail(
    'CI_FIXER_JOB_SIGNING_KEY is required when NODE_ENV=production: the API signs jobs with it and workers refuse jobs without it; set the same value (`openssl rand -hex 32`) on the API and every worker',
  );
}
const logger = createLogger({ service: 'api', level: config.LOG_LEVEL });
const token = resolveToken(config);
addSecretValues([token]);
const api = await startApi(config, token, logger).catch((error: NodeJS.ErrnoException) =>
  fail(
    error.code === 'EADDRINUSE'
      ? `port ${config.PORT} on ${config.HOST} is taken by another process; stop it or set PORT (0 picks a free port)`
      : `cannot listen on ${config.HOST}:${config.PORT}: ${error.message}`,
  ),
);

const shutdown = (signal: string) => {
  logger.info('api shutting down', { signal });
  api.close().finally(() => process.exit(0));
};
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));

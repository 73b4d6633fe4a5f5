import { ConfigError, loadConfig, secretValues, type Config } from '@ci-fixer/config';
import { addSecretValues, createLogger } from '@ci-fixer/logger';
import { startWorker } from './worker.ts';

function loadOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`ci-fixer worker: ${error.message}\n`);
    process.exit(2);
  }
}

const config = loadOrExit();
// From here on the configured secrets' values are redacted wherever they appear (logs, job records).
addSecretValues(secretValues(config));
if (config.NODE_ENV === 'production' && !config.CI_FIXER_JOB_SIGNING_KEY) {
  process.stderr.write(
    'ci-fixer worker: CI_FIXER_JOB_SIGNING_KEY is required when NODE_ENV=production: without it a job changed in Redis would run; set the value the API has\n',
  );
  process.exit(2);
}
const logger = createLogger({ service: 'worker', level: config.LOG_LEVEL });
const worker = await startWorker(config, logger).catch((error: unknown) => {
  // For example a kubernetes preflight that names missing RBAC permissions: say it in the log, not a stack.
  logger.error('worker could not start', { error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});

const shutdown = (signal: string) => {
  logger.info('signal received', { signal });
  worker.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error('worker did not stop cleanly', { error });
      process.exit(1);
    },
  );
};
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));

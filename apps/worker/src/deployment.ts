import { createHash } from 'node:crypto';
import type { Config } from '@ci-fixer/config';
import { QUEUE_PREFIX } from '@ci-fixer/queue';

/**
 * The deployment this worker belongs to: CI_FIXER_DEPLOYMENT, or a name derived from the Redis it shares
 * with the other workers of its queue (host, port and database; never the password).
 */
export function deploymentName(config: Pick<Config, 'CI_FIXER_DEPLOYMENT' | 'REDIS_URL'>): string {
  if (config.CI_FIXER_DEPLOYMENT) return config.CI_FIXER_DEPLOYMENT;
  const url = new URL(config.REDIS_URL);
  const where = `${url.hostname}:${url.port || '6379'}${url.pathname || '/0'}:${QUEUE_PREFIX}`;
  return `d-${createHash('sha256').update(where).digest('hex').slice(0, 12)}`;
}

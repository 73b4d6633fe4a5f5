import { z } from 'zod';
import { bool, hostList } from './fields.ts';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

/** What API, worker and CLI share: environment, logging, Redis, job signing and which repositories are accepted. */
export const platformSettings = {
  NODE_ENV: z
    .enum(['development', 'test', 'production'])
    .default('development')
    .describe('`production` requires CI_FIXER_API_TOKEN; other values generate one at start.'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info').describe('Lowest level written to the JSON log.'),
  REDIS_URL: z
    .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })
    .default('redis://127.0.0.1:6379')
    .describe('Redis that holds the queue, job state and worker heartbeats.'),
  CI_FIXER_JOB_SIGNING_KEY: z
    .string()
    .min(32, 'must be at least 32 characters; generate one with `openssl rand -hex 32`')
    .optional()
    .describe(
      'Key the API signs job payloads with and workers verify them with (HMAC-SHA256), so that a job changed in Redis is refused. Required when NODE_ENV=production; the same value on the API and every worker.',
    ),
  CI_FIXER_ALLOW_FILE_REPOS: bool(
    'Accept `file://` URLs and absolute paths as repositories (local use and tests only).',
    false,
  ),
  CI_FIXER_REPO_HOSTS: hostList
    .default(['github.com', 'gitlab.com'])
    .describe('Comma-separated git hosts whose https://, ssh:// or scp-style URLs are accepted.'),
};

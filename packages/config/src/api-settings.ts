import { z } from 'zod';
import { bool, int } from './fields.ts';

/** The API: where it listens, its token, and the limits it enforces (counted in Redis, so every replica enforces the same). */
export const apiSettings = {
  HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Address the API listens on; containers use 0.0.0.0.'),
  PORT: int('API port; 0 picks a free one.', 3000, 0, 65535),
  CI_FIXER_API_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters; generate one with `openssl rand -hex 32`')
    .optional()
    .describe(
      'Bearer token for the REST API and Bull Board. Generated and printed at start when unset outside production.',
    ),
  API_MAX_BODY_BYTES: int('Largest request body the API accepts.', 1_048_576, 1024, 64 * 1_048_576),
  BULL_BOARD_READ_ONLY: bool('Serve Bull Board without retry/remove/clean buttons.', true),
  // API limits. Counted in Redis, so every API replica enforces the same ones.
  API_RATE_LIMIT_WINDOW_SECONDS: int(
    'Window of the request rate limits (API_TOKEN_REQUESTS_PER_WINDOW, API_ADDRESS_REQUESTS_PER_WINDOW), in seconds.',
    60,
    1,
    3600,
  ),
  API_TOKEN_REQUESTS_PER_WINDOW: int(
    'Requests one API token may make to /v1 and /metrics per window; more get 429 with Retry-After.',
    600,
    1,
    1_000_000,
  ),
  API_ADDRESS_REQUESTS_PER_WINDOW: int(
    'Requests one client address may make to /v1, /metrics and /admin per window, signed in or not. Webhooks are not counted: forges send from shared address pools, and their signatures and the queue quota bound them.',
    1200,
    1,
    1_000_000,
  ),
  API_SIGN_IN_MAX_FAILURES: int(
    'Failed dashboard sign-ins one client address may make per API_SIGN_IN_WINDOW_SECONDS before sign-in answers 429.',
    10,
    1,
    10_000,
  ),
  API_SIGN_IN_WINDOW_SECONDS: int('Window of API_SIGN_IN_MAX_FAILURES.', 900, 1, 86_400),
  API_MAX_QUEUED_PER_REPO: int(
    'Fix jobs one repository may have queued or running at once, from the REST API and webhooks together; more get 429.',
    20,
    1,
    100_000,
  ),
  API_MAX_QUEUED_PER_INSTALLATION: int(
    'Fix jobs one GitHub App installation or GitLab top-level group may have queued or running at once, across its repositories; more get 429 (GitLab hears why in a 200).',
    100,
    1,
    1_000_000,
  ),
  API_MAX_JOB_BYTES: int(
    'Largest job payload (the fix request as stored in Redis, logs included) the API enqueues; larger ones get 413.',
    262_144,
    1024,
    64 * 1_048_576,
  ),
  API_SESSION_TTL_SECONDS: int(
    'How long a dashboard sign-in lasts; sessions live in Redis and end sooner on sign-out or when CI_FIXER_API_TOKEN changes.',
    12 * 3600,
    60,
    30 * 86_400,
  ),
};

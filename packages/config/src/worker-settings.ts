import { z } from 'zod';
import { int } from './fields.ts';

/** Workers and the fix jobs they run: concurrency, leases, retries, retention and what a fix may change. */
export const workerSettings = {
  WORKER_CONCURRENCY: int('Fix jobs one worker runs at once.', 2, 1, 64),
  WORKER_SHUTDOWN_GRACE_SECONDS: int(
    'On SIGTERM, how long running fixes may finish before they are handed back to the queue.',
    60,
    0,
    86_400,
  ),
  WORKER_LOCK_DURATION_MS: int(
    'How long a job lock lives without renewal; a worker that stops renewing (crashed) loses its job to another after this.',
    30_000,
    1000,
    600_000,
  ),
  WORKER_HEARTBEAT_TTL_MS: int(
    "How long a worker's lease lives; sandboxes whose owner's lease lapsed are reaped, but only by a worker whose own lease has been renewed without a gap for this long.",
    15_000,
    1000,
    600_000,
  ),
  WORKER_MAX_STALLS: int(
    "How often a job may be handed to another worker because its lock lapsed (worker killed, Redis away) before it fails. Counted apart from JOB_ATTEMPTS: a stall is the platform's fault, and a finished run's result is reused on the next delivery.",
    10,
    1,
    1000,
  ),
  JOB_ATTEMPTS: int('Tries per fix job; only platform errors are retried.', 3, 1, 20),
  JOB_BACKOFF_MS: int('First retry delay; doubles on each retry.', 5000, 0, 3_600_000),
  JOB_RETENTION_COUNT: int('Finished jobs kept for the API, per outcome.', 1000, 1, 1_000_000),
  JOB_RETENTION_SECONDS: int('Age after which finished jobs are dropped.', 7 * 86_400, 60, 365 * 86_400),
  FIX_TIMEOUT_SECONDS: int('Wall-clock limit for one fix job, sandbox included.', 1800, 10, 86_400),
  FIX_PROTECTED_PATHS: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((glob) => glob.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z
          .string()
          .regex(
            /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[^\s\\]+$/,
            'must be comma-separated glob patterns relative to the repository root, e.g. deploy/**,*.tf',
          ),
      ),
    )
    .describe(
      'Further paths no fix may change, as comma-separated globs relative to the repository root (`**` any depth, `*` one segment). Added to the built-in list (CI configuration, CODEOWNERS, git metadata), never replacing it.',
    ),
  FIX_MAX_PATCH_BYTES: int(
    'Largest patch a fix may produce, in bytes; a larger one ends `unfixable`.',
    1_048_576,
    1024,
    64 * 1_048_576,
  ),
  FIX_MAX_PATCH_FILES: int('Most files a fix may change; more ends `unfixable`.', 200, 1, 100_000),
};

import { z } from 'zod';
import { bool, int, list } from './fields.ts';

/**
 * Settings of the forge integration: webhook receivers, forge credentials, which runs to act on and how
 * to report back. Spread into `envSchema`; the keys are public env names like every other setting.
 */

const secret = (description: string) => z.string().min(1).optional().describe(description);

const repoPattern = z
  .string()
  .regex(
    /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.*-]+)+$/,
    'must be a comma-separated list of owner/repo names; `owner/*` matches all of an owner',
  );

// Modes a repository may be given; `push` rewrites a person's branch, so only a per-repository opt-in can ask for it.
const GLOBAL_REPORT_MODES = ['comment', 'pull-request', 'check-run', 'none'] as const;
const ALL_REPORT_MODES = ['comment', 'pull-request', 'push', 'check-run', 'none'] as const;

const reportOverrides = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const overrides: Record<string, (typeof ALL_REPORT_MODES)[number]> = {};
    for (const entry of value
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)) {
      const [repo, mode] = entry.split('=').map((part) => part.trim());
      if (!repo || !repoPattern.safeParse(repo).success || !ALL_REPORT_MODES.includes(mode as never)) {
        ctx.addIssue({
          code: 'custom',
          message: `"${entry}" must look like owner/repo=<${ALL_REPORT_MODES.join('|')}>`,
        });
        return z.NEVER;
      }
      overrides[repo.toLowerCase()] = mode as (typeof ALL_REPORT_MODES)[number];
    }
    return overrides;
  })
  .describe(
    'Per-repository report modes, e.g. `acme/api=push,acme/web=pull-request`; the only way to enable `push`.',
  );

const httpUrl = (fallback: string, description: string) =>
  z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
    .default(fallback)
    .transform((url) => url.replace(/\/+$/, ''))
    .describe(description);

export const forgeSettings = {
  GITHUB_WEBHOOK_SECRET: secret(
    'Secret of the GitHub webhook (X-Hub-Signature-256). Unset: POST /webhooks/github answers 503 and enqueues nothing.',
  ),
  GITLAB_WEBHOOK_TOKEN: secret(
    'Secret token of the GitLab webhook (X-Gitlab-Token). Unset: POST /webhooks/gitlab answers 503 and enqueues nothing.',
  ),
  WEBHOOK_MAX_BODY_BYTES: int('Largest webhook body accepted.', 5 * 1_048_576, 1024, 25 * 1_048_576),
  WEBHOOK_DEDUPE_TTL_SECONDS: int(
    'How long a delivery id is remembered, so that a redelivery does not start a second fix.',
    3 * 86_400,
    60,
    30 * 86_400,
  ),

  GITHUB_APP_ID: z.coerce
    .number({ error: 'must be the numeric App ID' })
    .int()
    .positive()
    .optional()
    .describe('GitHub App ID; with GITHUB_APP_PRIVATE_KEY the preferred GitHub credential.'),
  GITHUB_APP_PRIVATE_KEY: z
    .string()
    .min(1)
    .transform((pem) => pem.replace(/\\n/g, '\n'))
    .optional()
    .describe('PEM private key of the GitHub App; `\\n` escapes are accepted for one-line env files.'),
  GITHUB_TOKEN: secret(
    'GitHub personal access token, used when no App is configured (cannot create check runs).',
  ),
  GITHUB_API_URL: httpUrl(
    'https://api.github.com',
    'GitHub REST API base URL (GitHub Enterprise: <host>/api/v3).',
  ),
  GITLAB_URL: httpUrl('https://gitlab.com', 'GitLab instance URL; the REST API is <GITLAB_URL>/api/v4.'),
  GITLAB_TOKEN: secret('GitLab access token with the `api` scope (project, group or personal).'),

  FORGE_REPOSITORIES: list(
    repoPattern,
    'Allow-list of repositories webhooks may start fixes for (`owner/repo`, `owner/*`); empty allows all.',
  ),
  FORGE_BRANCHES: list(
    z.string().min(1),
    'Branches whose failed runs are fixed, as glob patterns (`main`, `release/*`); empty allows all.',
  ),
  FORGE_ALLOW_FORKS: bool('Act on runs whose commit comes from a fork.', false),
  FORGE_MAX_ATTEMPTS_PER_CHANGE: int(
    'Loop guard: fix jobs started per pull/merge request (or branch without one) within FORGE_ATTEMPT_WINDOW_SECONDS.',
    3,
    1,
    100,
  ),
  FORGE_ATTEMPT_WINDOW_SECONDS: int('Window of the loop guard.', 86_400, 60, 30 * 86_400),
  FORGE_REPORT_MODE: z
    .enum(GLOBAL_REPORT_MODES)
    .default('comment')
    .describe(
      'How results go back: a PR/MR comment, a fix pull request, a check run, or nothing (API only).',
    ),
  FORGE_REPORT_OVERRIDES: reportOverrides,
  FORGE_RERUN_FLAKY: bool('Re-run the failed jobs of a run whose failure did not reproduce.', false),
  FORGE_LOG_MAX_BYTES: int(
    'Failure log kept per job for diagnosis; error regions and the tail are kept.',
    65_536,
    4096,
    512_000,
  ),

  WORKER_METRICS_PORT: int('Port of the worker’s /metrics; 0 turns it off.', 9464, 0, 65535),
  WORKER_METRICS_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Address the worker’s /metrics listens on; containers use 0.0.0.0.'),
};

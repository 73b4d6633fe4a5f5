import { z } from 'zod';
import { bool, int } from './fields.ts';
import { SANDBOX_DEFAULTS } from '@ci-fixer/sandbox/defaults';
import { forgeSettings } from './forge-settings.ts';

/**
 * Every environment variable ci-fixer reads, with its default and meaning.
 *
 * The keys are the public names: the README table, the Helm chart, docker-compose and the Dockerfiles are
 * all checked against this object, so a name that is not here is read by nothing.
 */

const hostList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((host) => host.trim().toLowerCase())
      .filter(Boolean),
  )
  .pipe(
    z.array(
      z
        .string()
        .regex(/^[a-z0-9.-]+(:\d+)?$/, 'must be a comma-separated list of host names, e.g. github.com'),
    ),
  );

const nameList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be comma-separated names')));

const keyValueList = z.string().transform((value, context) => {
  const pairs: Record<string, string> = {};
  for (const pair of value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)) {
    const match = /^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)$/.exec(pair);
    if (!match) {
      context.addIssue({ code: 'custom', message: `must be comma-separated key=value pairs, not ${pair}` });
      return z.NEVER;
    }
    pairs[match[1]!] = match[2]!;
  }
  return pairs;
});

const toleration = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.number().int().optional(),
});

const jsonTolerations = z
  .string()
  .transform((value, context) => {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      context.addIssue({ code: 'custom', message: 'must be a JSON array of tolerations' });
      return z.NEVER;
    }
  })
  .pipe(z.array(toleration, { error: 'must be a JSON array of tolerations' }));

export const SANDBOX_DRIVERS = ['local', 'docker', 'kubernetes'] as const;
export const ISOLATION_MODES = ['bwrap', 'none'] as const;
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

// Trust stores and proxies: what a sandbox needs to reach git hosts and registries the way the worker does.
const DEFAULT_PASSTHROUGH = [
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'GIT_SSL_CAINFO',
  'CURL_CA_BUNDLE',
  'REQUESTS_CA_BUNDLE',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
];

export const envSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'test', 'production'])
    .default('development')
    .describe('`production` requires CI_FIXER_API_TOKEN; other values generate one at start.'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info').describe('Lowest level written to the JSON log.'),

  REDIS_URL: z
    .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })
    .default('redis://127.0.0.1:6379')
    .describe('Redis that holds the queue, job state and worker heartbeats.'),

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
  CI_FIXER_JOB_SIGNING_KEY: z
    .string()
    .min(32, 'must be at least 32 characters; generate one with `openssl rand -hex 32`')
    .optional()
    .describe(
      'Key the API signs job payloads with and workers verify them with (HMAC-SHA256), so that a job changed in Redis is refused. Required when NODE_ENV=production; the same value on the API and every worker.',
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

  CI_FIXER_ALLOW_FILE_REPOS: bool(
    'Accept `file://` URLs and absolute paths as repositories (local use and tests only).',
    false,
  ),
  CI_FIXER_REPO_HOSTS: hostList
    .default(['github.com', 'gitlab.com'])
    .describe('Comma-separated git hosts whose https://, ssh:// or scp-style URLs are accepted.'),

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

  SANDBOX_DRIVER: z.enum(SANDBOX_DRIVERS).default('local').describe('Where fix commands run.'),
  CI_FIXER_DEPLOYMENT: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/, 'must be a short lower-case name such as prod-eu')
    .optional()
    .describe(
      'Name of this deployment: its workers reap only sandboxes labelled with it, and local sandboxes live under <SANDBOX_LOCAL_ROOT>/<name>. Default: derived from REDIS_URL, so workers sharing a queue share a name.',
    ),
  SANDBOX_EGRESS_ALLOW: z
    .string()
    .default('registries')
    .transform((value) =>
      value
        .split(',')
        .map((entry) => entry.trim().toLowerCase())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z
          .string()
          .regex(
            /^(registries|(\*\.)?[a-z0-9.-]+(:\d{1,5})?|\[?[0-9a-f:.]+\]?(\/\d{1,3})?(:\d{1,5})?)$/,
            'must be comma-separated host, host:port, *.domain, IP or CIDR entries, or `registries`',
          ),
      ),
    )
    .describe(
      "What sandboxes may reach besides the job's git host, through their egress proxy: host, host:port, *.domain, IP or CIDR entries. `registries` stands for the package registries this host's npm, pip and Go are configured with.",
    ),
  SANDBOX_COMMAND_TIMEOUT_SECONDS: int(
    'Limit for one command inside a sandbox.',
    SANDBOX_DEFAULTS.commandTimeoutSeconds,
    1,
    86_400,
  ),
  SANDBOX_MAX_OUTPUT_BYTES: int(
    'Output kept per stream per command; the middle of longer output is dropped.',
    1_048_576,
    1024,
    64 * 1_048_576,
  ),
  SANDBOX_ENV_PASSTHROUGH: z
    .string()
    .default(DEFAULT_PASSTHROUGH.join(','))
    .transform((value) =>
      value
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a comma-separated list of variable names'),
      ),
    )
    .describe(
      "Worker variables copied into every sandbox (trust stores and proxies); nothing else of the worker's environment is.",
    ),
  SANDBOX_IMAGE: z
    .string()
    .min(1)
    .default('ci-fixer/sandbox:latest')
    .describe(
      'Image container sandboxes start from (docker and kubernetes drivers). It needs `sh`, a /workspace owned by SANDBOX_USER (docker), `setsid`, `timeout`, `head` and `tar` (kubernetes), and the tools fixes run (git, node, pnpm).',
    ),
  SANDBOX_CPUS: z.coerce
    .number({ error: 'must be a number' })
    .positive('must be more than 0')
    .max(256, 'must be at most 256')
    .default(2)
    .describe('CPUs one container sandbox may use; fractions allowed (0.5).'),
  SANDBOX_MEMORY_MB: int(
    'Memory limit of one sandbox (local: a memory cgroup; containers: their /tmp and $HOME tmpfs included); no swap beyond it.',
    SANDBOX_DEFAULTS.limits.memoryMb,
    64,
    1_048_576,
  ),
  SANDBOX_PIDS: int(
    'Most processes and threads one sandbox may hold at once (local: a pids cgroup; docker: PidsLimit; kubernetes: the kubelet podPidsLimit).',
    SANDBOX_DEFAULTS.limits.pids,
    16,
    1_000_000,
  ),
  SANDBOX_DISK_MB: int(
    'Disk one sandbox may fill: the largest file a command may write on the local driver (RLIMIT_FSIZE); docker: the workspace tmpfs, at most half of SANDBOX_MEMORY_MB.',
    SANDBOX_DEFAULTS.limits.diskMb,
    16,
    10_485_760,
  ),
  SANDBOX_EGRESS_DIR: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Host directory where the docker driver puts its egress proxy's socket, bind-mounted into sandboxes; must be the same path on the engine's host and in the worker. Default: <tmpdir>/ci-fixer-egress-<uid>.",
    ),
  SANDBOX_USER: z
    .string()
    .regex(/^\d+:\d+$/, 'must be numeric uid:gid, e.g. 1000:1000')
    .refine((value) => !value.startsWith('0:'), 'must not be root (uid 0)')
    .default('1000:1000')
    .describe('Numeric uid:gid that container sandboxes run commands as; root is refused.'),
  DOCKER_HOST: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Docker Engine API the docker driver talks to (unix://, tcp://, ssh://); read by its client directly, with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH. Default: /var/run/docker.sock.',
    ),
  K8S_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Kubernetes namespace name')
    .default('ci-fixer-sandboxes')
    .describe(
      'Namespace the kubernetes driver creates one Job per sandbox in; the worker Role is bound there.',
    ),
  K8S_SANDBOX_SERVICE_ACCOUNT: z
    .string()
    .min(1)
    .default('ci-fixer-sandbox')
    .describe('ServiceAccount of sandbox pods: one with no permissions; its token is never mounted.'),
  K8S_WORKSPACE_DIR: z
    .string()
    .regex(/^\//, 'must be an absolute path')
    .default('/workspace')
    .describe(
      'Directory in the sandbox pod (an emptyDir) under which each sandbox gets <id>/workspace, home and tmp.',
    ),
  K8S_TTL_SECONDS_AFTER_FINISHED: int(
    'Seconds after a sandbox Job finishes (its keep-alive ended) before Kubernetes deletes it.',
    300,
    0,
    604_800,
  ),
  K8S_POD_READY_TIMEOUT_SECONDS: int(
    'How long creating a sandbox waits for its pod to run (scheduling, image pull) before failing with the cause.',
    120,
    1,
    3600,
  ),
  K8S_EPHEMERAL_STORAGE_MB: int(
    'Ephemeral-storage request and limit of a sandbox pod (workspace, /tmp, container layer); 0 sets none.',
    10_240,
    0,
    10_485_760,
  ),
  K8S_RUNTIME_CLASS: z
    .string()
    .min(1)
    .optional()
    .describe(
      'runtimeClassName of sandbox pods, e.g. `gvisor` or `kata`, for a stronger boundary than runc.',
    ),
  K8S_PRIORITY_CLASS: z.string().min(1).optional().describe('priorityClassName of sandbox pods.'),
  K8S_NODE_SELECTOR: keyValueList
    .optional()
    .describe('nodeSelector of sandbox pods as comma-separated key=value pairs, e.g. `pool=sandboxes`.'),
  K8S_TOLERATIONS: jsonTolerations
    .optional()
    .describe(
      'Tolerations of sandbox pods as a JSON array, e.g. `[{"key":"sandbox","operator":"Exists","effect":"NoSchedule"}]`.',
    ),
  K8S_REQUIRE_NETWORK_POLICY: bool(
    'The kubernetes driver refuses to start unless NetworkPolicies in K8S_NAMESPACE confine sandbox pods (deny ingress; egress none or public only). false only where another control confines them.',
    true,
  ),
  K8S_IMAGE_PULL_SECRETS: nameList
    .optional()
    .describe('Comma-separated Secret names (in K8S_NAMESPACE) sandbox pods pull SANDBOX_IMAGE with.'),
  SANDBOX_LOCAL_ROOT: z
    .string()
    .min(1)
    .optional()
    .describe('Directory for local sandboxes; defaults to <tmpdir>/ci-fixer-sandboxes.'),
  DEPENDENCY_CACHE_DIR: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Host directory for package-manager caches (npm, pnpm, yarn, Go, pip) kept across jobs; unset disables caching.',
    ),
  DEPENDENCY_CACHE_SCOPE: z
    .enum(['repository', 'shared'])
    .default('repository')
    .describe(
      "`repository` gives each repository its own cache, so tenants never read each other's; `shared` uses one for all.",
    ),

  LLM_BASE_URL: z
    .url({ error: 'must be the URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1' })
    .optional()
    .describe(
      'OpenAI-compatible endpoint for the fix agent; the agent runs only when this, LLM_API_KEY and LLM_MODEL are set.',
    ),
  LLM_API_KEY: z.string().min(1).optional().describe('API key for LLM_BASE_URL; never logged.'),
  LLM_MODEL: z.string().min(1).optional().describe('Model name the fix agent asks for.'),
  LLM_MAX_STEPS: int('Model turns the fix agent may take per job.', 30, 1, 500),
  LLM_MAX_TOKENS: int(
    'Prompt plus completion tokens the fix agent may spend per job.',
    400_000,
    1000,
    100_000_000,
  ),
  LLM_MAX_SECONDS: int('Wall-clock limit for the fix agent per job.', 600, 10, 86_400),
  LLM_MAX_RETRIES: int(
    'Retries of a failed model call (429, 5xx, timeouts) with exponential backoff.',
    3,
    0,
    20,
  ),

  SANDBOX_ISOLATION: z
    .enum(ISOLATION_MODES)
    .default('bwrap')
    .describe(
      'Local driver: `bwrap` runs every command under bubblewrap (required; the worker refuses to start without it); `none` runs plain processes with no isolation, for development only, and is refused when NODE_ENV=production.',
    ),

  ...forgeSettings,
});

export type Config = z.infer<typeof envSchema>;

/** Rules across variables; each names the variables involved. */
export const crossFieldRules: ((config: Config) => string | undefined)[] = [
  (config) =>
    config.NODE_ENV === 'production' &&
    config.SANDBOX_DRIVER === 'local' &&
    config.SANDBOX_ISOLATION === 'none'
      ? 'SANDBOX_ISOLATION: `none` (no isolation) is refused when NODE_ENV=production; install bubblewrap and use `bwrap`, or a container driver'
      : undefined,
];
export type EnvName = keyof typeof envSchema.shape;

export const ENV_NAMES = Object.keys(envSchema.shape) as EnvName[];

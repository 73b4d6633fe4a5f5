import { z } from 'zod';
import { int } from './fields.ts';
import { SANDBOX_DEFAULTS } from './sandbox-defaults.ts';

/** Sandboxes on every driver: which driver, what they may reach and inherit, their image, user and limits. */
export const SANDBOX_DRIVERS = ['local', 'docker', 'kubernetes'] as const;
export const ISOLATION_MODES = ['bwrap', 'none'] as const;

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

export const sandboxSettings = {
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
  SANDBOX_ISOLATION: z
    .enum(ISOLATION_MODES)
    .default('bwrap')
    .describe(
      'Local driver: `bwrap` runs every command under bubblewrap (required; the worker refuses to start without it); `none` runs plain processes with no isolation, for development only, and is refused when NODE_ENV=production.',
    ),
};

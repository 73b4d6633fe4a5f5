/**
 * Fuzzing the API as it runs: the real process (apps/api/src/main.ts) on a loopback port with a private
 * Redis, sent generated and mutated requests (fast-check) across /v1/fix-jobs (with and without the token),
 * /webhooks/github (signed with the configured secret, unsigned and mis-signed), /webhooks/gitlab and
 * /admin/*. Every request is built either valid (it may enqueue a job) or invalid by construction (a wrong
 * token or signature, or one field replaced with a value known to be wrong: a non-hex SHA, a URL that
 * Node and git read differently, a string where a number belongs, random JSON or bytes, a broken body).
 *
 * Passes when: no answer is a 5xx; no invalid request changed the number of jobs in the queue (counted
 * before and after each one); the API is alive at the end and its RSS stayed under RSS_LIMIT_MB throughout.
 *
 * `pnpm test` sends 2,000 requests with a fixed seed (about 10 s): 10,000 took 76 s on this 2-core machine
 * (sequential requests, a queue count around each), too long for every run. `pnpm fuzz` sends 10,000
 * (FUZZ_RUNS) with a random seed it prints; `FUZZ_SEED=<n> pnpm fuzz` replays one.
 */
import { createHmac, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import fc from 'fast-check';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAME, QUEUE_PREFIX } from '@ci-fixer/queue';
import { freePort, startApp, waitFor, type RunningApp } from '../../../test/support/processes.ts';
import { startTestRedis, type TestRedis } from '../../../test/support/redis.ts';
import { failedWorkflowRun, gitlabPipeline, type Json } from './webhooks-harness.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const SEED =
  process.env.FUZZ_SEED === undefined
    ? 20261203
    : process.env.FUZZ_SEED === 'random'
      ? randomInt(2 ** 31)
      : Number(process.env.FUZZ_SEED);
/** The API's memory limit in the Helm chart (api.resources.limits.memory): past it, Kubernetes kills it. */
const RSS_LIMIT_MB = 512;

const TOKEN = 'fuzz-token-0123456789abcdef';
const GITHUB_SECRET = 'fuzz-github-secret';
const GITLAB_TOKEN = 'fuzz-gitlab-token';

interface Probe {
  /** What was generated, for the report and for a counterexample. */
  kind: string;
  /** Valid requests may enqueue a job; invalid ones must not. */
  valid: boolean;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

// ---------------------------------------------------------------------------------------------- values

const hex = (length: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const name = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,14}$/);
const printable = fc.string({
  unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
});
const anyText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }));

/** A value of the wrong type for any field (no null: some fields are nullable, and null may mean absent). */
const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
);

/** URLs that must never be cloned: parser differentials, credentials, other ports, schemes, addresses. */
const BAD_URLS = [
  'https://github.com\\@127.0.0.1:9419/acme/app',
  'https://github.com:9419/acme/app',
  'https://user:secret@github.com/acme/app',
  'https://github.com@127.0.0.1/acme/app',
  'https://github.com/acme/app\nhttps://127.0.0.1/x',
  'https://github.com/acme/app two',
  'https://githüb.com/acme/app',
  'https://169.254.169.254/latest/meta-data',
  'http://127.0.0.1:6379/',
  'file:///etc/passwd',
  'ext::sh -c touch% /tmp/pwned',
  '-uhttps://github.com/acme/app',
  'https://github.com/acme/../../etc',
  'https://github.com/acme/app?x=1',
  'https://[::1]/acme/app',
  'https://github%2ecom/acme/app',
  'javascript:alert(1)',
  '',
];
const badUrl = fc.oneof(fc.constantFrom(...BAD_URLS), wrongType);
const badSha = fc.oneof(
  fc.constantFrom(
    '12345',
    'zz',
    'g'.repeat(40),
    'a'.repeat(39),
    `${'a'.repeat(40)}\n`,
    '--output=/tmp/x',
    '',
  ),
  wrongType,
);
const badId = fc.oneof(
  fc.constantFrom(0, -1, 1.5, '1', '1:2', 2 ** 60, Number.MAX_SAFE_INTEGER + 2),
  fc.string({ maxLength: 8 }),
  fc.boolean(),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
);
const badName = fc.oneof(
  fc.constantFrom('', 'a', '../x', 'a/b/c/../d', '-x/y', 'a/.', 'a b/c', 'a/b\n'),
  wrongType,
);
const badBranch = fc.oneof(
  fc.constantFrom('-x', 'a..b', 'a b', 'HEAD', '@', 'a.lock', 'x\n', '', 'x'.repeat(300)),
  wrongType,
);

/** Sets `path` (dotted, array indices as numbers) in a deep copy of `value`. */
function withField(value: Json, path: string, replacement: unknown): Json {
  const copy = structuredClone(value);
  const keys = path.split('.');
  let at: Json = copy;
  for (const key of keys.slice(0, -1)) {
    if (at[key] === null || typeof at[key] !== 'object') at[key] = {};
    at = at[key];
  }
  at[keys.at(-1)!] = replacement;
  return copy;
}

// ----------------------------------------------------------------------------------------------- /v1

const bearer = { authorization: `Bearer ${TOKEN}` };
const wrongAuth = fc.constantFrom<Record<string, string>>(
  {},
  { authorization: 'Bearer not-the-token-0123456789' },
  { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
  { authorization: `Bearer ${TOKEN} extra` },
  { authorization: `bearer` },
  { cookie: 'ci_fixer_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
);

const validRequest = fc.record(
  {
    repo: fc.record(
      {
        url: fc
          .tuple(fc.constantFrom('github.com', 'gitlab.com'), name, name)
          .map(([h, o, r]) => `https://${h}/${o}/${r}`),
        sha: hex(40),
        ref: fc.constantFrom('main', 'release/1.2', 'v1.2.3'),
      },
      { requiredKeys: ['url'] },
    ),
    command: fc.constantFrom('npm run lint', 'npm test', 'pnpm -r build', 'go vet ./...', 'ruff check .'),
    logs: fc.string({ maxLength: 200 }),
    workingDirectory: fc.constantFrom('packages/web', 'src'),
  },
  { requiredKeys: ['repo', 'command'] },
);

/** One field of a valid request replaced with a value known to be refused. */
const mutatedRequest = fc.tuple(validRequest, fc.integer({ min: 0, max: 9 })).chain(([request, which]) => {
  const set = (path: string, value: fc.Arbitrary<unknown>) => value.map((v) => withField(request, path, v));
  switch (which) {
    case 0:
      return set('repo.url', badUrl);
    case 1:
      // The REST API takes abbreviated SHAs (7 to 64 hex digits), webhooks full ones only.
      return set(
        'repo.sha',
        fc.oneof(
          fc.constantFrom('abc', 'g'.repeat(40), 'a'.repeat(65), `${'a'.repeat(40)}\n`, '--output=/x', ''),
          wrongType,
        ),
      );
    case 2:
      return set(
        'repo.ref',
        fc.oneof(
          fc.constantFrom('--upload-pack=touch /tmp/x', 'a..b', 'x y', '', 'x'.repeat(300)),
          wrongType,
        ),
      );
    case 3:
      return set('command', fc.oneof(fc.constantFrom('', '   ', 'x'.repeat(10_001)), wrongType));
    case 4:
      return set('logs', fc.oneof(fc.constant('x'.repeat(512_001)), wrongType));
    case 5:
      return set(
        'workingDirectory',
        fc.oneof(fc.constantFrom('/etc', '../x', 'a/../../b', '-x', ''), wrongType),
      );
    case 6:
      return fc.tuple(fc.stringMatching(/^[a-z_]{1,10}$/), fc.jsonValue({ maxDepth: 2 })).map(([key, v]) => ({
        ...request,
        [`x_${key}`]: v,
      }));
    case 7:
      return set('repo', fc.oneof(wrongType, fc.constant(null)));
    case 8:
      return fc.jsonValue({ maxDepth: 3 }).filter((v) => !(v && typeof v === 'object' && 'repo' in v));
    default:
      return set(
        'repo.url',
        fc.constantFrom('https://example.com/acme/app', 'ssh://git@github.com:2222/acme/app'),
      );
  }
});

const restSubmitValid: fc.Arbitrary<Probe> = validRequest.map((request) => ({
  kind: 'rest submit valid',
  valid: true,
  method: 'POST',
  path: '/v1/fix-jobs',
  headers: { ...bearer, 'content-type': 'application/json' },
  body: JSON.stringify(request),
}));

const restSubmitMutated: fc.Arbitrary<Probe> = mutatedRequest.map((request) => ({
  kind: 'rest submit mutated',
  valid: false,
  method: 'POST',
  path: '/v1/fix-jobs',
  headers: { ...bearer, 'content-type': 'application/json' },
  body: JSON.stringify(request) ?? 'null',
}));

const restSubmitUnauthorised: fc.Arbitrary<Probe> = fc
  .tuple(validRequest, wrongAuth)
  .map(([request, auth]) => ({
    kind: 'rest submit without the token',
    valid: false,
    method: 'POST',
    path: '/v1/fix-jobs',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(request),
  }));

/** A valid request whose body or headers are broken on the wire. */
const restSubmitBroken: fc.Arbitrary<Probe> = fc
  .tuple(validRequest, fc.integer({ min: 0, max: 5 }), fc.uint8Array({ maxLength: 64 }), anyText)
  .map(([request, which, bytes, text]) => {
    const body = JSON.stringify(request);
    const base = { kind: 'rest submit broken body', valid: false, method: 'POST', path: '/v1/fix-jobs' };
    switch (which) {
      case 0:
        return {
          ...base,
          headers: { ...bearer, 'content-type': 'application/json' },
          body: body.slice(0, body.length - 1 - (bytes.length % body.length)),
        };
      case 1:
        return { ...base, headers: { ...bearer, 'content-type': 'application/json' }, body: bytes };
      case 2:
        return {
          ...base,
          headers: {
            ...bearer,
            'content-type': 'application/json',
            'content-encoding': text.replace(/[^\x21-\x7e]/g, '') || 'gzip',
          },
          body,
        };
      case 3:
        return { ...base, headers: { ...bearer, 'content-type': 'application/json; charset=utf-16' }, body };
      case 4:
        return { ...base, headers: { ...bearer, 'content-type': 'text/plain' }, body };
      default:
        return {
          ...base,
          headers: { ...bearer, 'content-type': 'application/json' },
          body: 'x'.repeat(1_048_577),
        };
    }
  });

const restRead: fc.Arbitrary<Probe> = fc
  .tuple(
    fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
    fc.oneof(
      fc.constant(''),
      fc
        .tuple(fc.constantFrom('status', 'limit', 'cursor', 'offset', 'x', 'status[]'), printable)
        .map(([k, v]) => `?${k}=${encodeURIComponent(v)}`),
      fc
        .tuple(fc.constantFrom('queued', 'fixed', 'bogus', ''), fc.integer({ min: -5, max: 500 }))
        .map(([s, n]) => `?status=${s}&limit=${n}`),
      printable.map((id) => `/${encodeURIComponent(id)}`),
      printable.map((id) => `/${encodeURIComponent(id)}/cancel`),
      fc.constantFrom(
        '/%00',
        '/%ff',
        '/..%2f..%2fadmin',
        '/fx-0/cancel/x',
        '?cursor=eyJ1Ijo1fQ',
        '?cursor=eyJmIjpbMSwiYSJdfQ',
      ),
    ),
    fc.oneof(fc.constant(bearer), wrongAuth),
  )
  .map(([method, suffix, auth]) => ({
    kind: 'rest read and cancel',
    valid: false,
    method,
    path: `/v1/fix-jobs${suffix}`,
    headers: auth,
  }));

// ------------------------------------------------------------------------------------------- webhooks

const signGitHub = (body: string | Uint8Array, secret = GITHUB_SECRET) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
const delivery = fc.uuid();

const validRun = fc
  .tuple(
    fc.integer({ min: 1, max: 2 ** 40 }),
    hex(40),
    fc.integer({ min: 1, max: 5 }),
    fc.integer({ min: 1, max: 100_000 }),
  )
  .map(([id, sha, attempt, pr]) => {
    const run = failedWorkflowRun();
    run.workflow_run.id = id;
    run.workflow_run.head_sha = sha;
    run.workflow_run.run_attempt = attempt;
    run.workflow_run.pull_requests[0].number = pr;
    return run;
  });

const githubProbe = (
  kind: string,
  valid: boolean,
  body: string | Uint8Array,
  headers: Record<string, string>,
): Probe => ({
  kind,
  valid,
  method: 'POST',
  path: '/webhooks/github',
  headers: { 'content-type': 'application/json', 'x-github-event': 'workflow_run', ...headers },
  body,
});

const githubValid: fc.Arbitrary<Probe> = fc.tuple(validRun, delivery).map(([run, id]) => {
  const body = JSON.stringify(run);
  return githubProbe('github signed valid', true, body, {
    'x-github-delivery': id,
    'x-hub-signature-256': signGitHub(body),
  });
});

const GITHUB_FIELDS: [string, fc.Arbitrary<unknown>][] = [
  ['workflow_run.head_sha', badSha],
  ['workflow_run.id', badId],
  ['workflow_run.run_attempt', badId],
  [
    'workflow_run.pull_requests',
    fc.oneof(wrongType, fc.constant([{ number: '1' }]), fc.constant([{ number: 0 }])),
  ],
  ['workflow_run.head_branch', badBranch],
  ['workflow_run.head_repository.full_name', badName],
  ['repository.clone_url', badUrl],
  ['repository.full_name', badName],
  ['installation', fc.oneof(fc.integer(), fc.constant({ id: -1 }), fc.constant({ id: '1' }))],
  ['workflow_run', fc.oneof(wrongType, fc.constant(null))],
];

const githubMutated: fc.Arbitrary<Probe> = fc
  .tuple(validRun, fc.integer({ min: 0, max: GITHUB_FIELDS.length - 1 }), delivery)
  .chain(([run, which, id]) =>
    GITHUB_FIELDS[which]![1].map((value) => {
      const body = JSON.stringify(withField(run, GITHUB_FIELDS[which]![0], value));
      return githubProbe(`github signed, ${GITHUB_FIELDS[which]![0]} mutated`, false, body, {
        'x-github-delivery': id,
        'x-hub-signature-256': signGitHub(body),
      });
    }),
  );

const githubUnsigned: fc.Arbitrary<Probe> = fc
  .tuple(validRun, delivery, fc.constantFrom('none', 'wrong secret', 'garbage', 'sha1', 'other body'))
  .map(([run, id, how]) => {
    const body = JSON.stringify(run);
    const signature = {
      none: undefined,
      'wrong secret': signGitHub(body, 'not-the-secret'),
      garbage: 'sha256=zz',
      sha1: `sha1=${createHmac('sha1', GITHUB_SECRET).update(body).digest('hex')}`,
      'other body': signGitHub(`${body} `),
    }[how];
    return githubProbe(`github ${how === 'none' ? 'unsigned' : `signature ${how}`}`, false, body, {
      'x-github-delivery': id,
      ...(signature ? { 'x-hub-signature-256': signature } : {}),
    });
  });

/** Signed, but the body or the headers around it are wrong. */
const githubSignedJunk: fc.Arbitrary<Probe> = fc
  .tuple(
    fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
      fc.uint8Array({ maxLength: 128 }),
      fc.constant(''),
    ),
    fc.constantFrom('workflow_run', 'ping', 'push', 'check_run', ''),
    fc.oneof(delivery, printable, fc.constant('')),
    fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
  )
  .map(([body, event, id, type]) => ({
    ...githubProbe('github signed junk', false, body, { 'x-hub-signature-256': signGitHub(body) }),
    headers: {
      'content-type': type,
      'x-hub-signature-256': signGitHub(body),
      ...(event ? { 'x-github-event': event } : {}),
      ...(id ? { 'x-github-delivery': id } : {}),
    },
  }));

const validPipeline = fc.tuple(fc.integer({ min: 1, max: 2 ** 40 }), hex(40)).map(([id, sha]) => {
  const pipeline = gitlabPipeline('failed');
  pipeline.object_attributes.id = id;
  pipeline.object_attributes.sha = sha;
  return pipeline;
});

const gitlabProbe = (
  kind: string,
  valid: boolean,
  body: string | Uint8Array,
  headers: Record<string, string>,
): Probe => ({
  kind,
  valid,
  method: 'POST',
  path: '/webhooks/gitlab',
  headers: { 'content-type': 'application/json', 'x-gitlab-event': 'Pipeline Hook', ...headers },
  body,
});

const gitlabValid: fc.Arbitrary<Probe> = fc.tuple(validPipeline, delivery).map(([pipeline, id]) =>
  gitlabProbe('gitlab valid', true, JSON.stringify(pipeline), {
    'x-gitlab-token': GITLAB_TOKEN,
    'idempotency-key': id,
  }),
);

const GITLAB_FIELDS: [string, fc.Arbitrary<unknown>][] = [
  ['object_attributes.id', badId],
  ['object_attributes.sha', badSha],
  ['object_attributes.ref', badBranch],
  ['project.id', badId],
  ['project.git_http_url', badUrl],
  ['project.path_with_namespace', badName],
  ['object_attributes', wrongType],
];

const gitlabMutated: fc.Arbitrary<Probe> = fc
  .tuple(validPipeline, fc.integer({ min: 0, max: GITLAB_FIELDS.length - 1 }), delivery)
  .chain(([pipeline, which, id]) =>
    GITLAB_FIELDS[which]![1].map((value) =>
      gitlabProbe(
        `gitlab ${GITLAB_FIELDS[which]![0]} mutated`,
        false,
        JSON.stringify(withField(pipeline, GITLAB_FIELDS[which]![0], value)),
        {
          'x-gitlab-token': GITLAB_TOKEN,
          'idempotency-key': id,
        },
      ),
    ),
  );

const gitlabUnauthorised: fc.Arbitrary<Probe> = fc
  .tuple(
    validPipeline,
    fc.constantFrom<Record<string, string>>(
      {},
      { 'x-gitlab-token': 'wrong' },
      { 'x-gitlab-token': `${GITLAB_TOKEN}x` },
    ),
    delivery,
  )
  .map(([pipeline, token, id]) =>
    gitlabProbe('gitlab without the token', false, JSON.stringify(pipeline), {
      ...token,
      'idempotency-key': id,
    }),
  );

const gitlabJunk: fc.Arbitrary<Probe> = fc
  .tuple(
    fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
      fc.uint8Array({ maxLength: 128 }),
    ),
    fc.oneof(printable, fc.constant('Pipeline Hook')),
    printable,
  )
  .map(([body, event, id]) => ({
    ...gitlabProbe('gitlab junk', false, body, {}),
    headers: {
      'content-type': 'application/json',
      'x-gitlab-token': GITLAB_TOKEN,
      'x-gitlab-event': event,
      'idempotency-key': id,
    },
  }));

// ---------------------------------------------------------------------------------------------- /admin

const admin: fc.Arbitrary<Probe> = fc
  .tuple(
    fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'),
    fc.oneof(
      fc.constantFrom(
        '/admin/login',
        '/admin/logout',
        '/admin/queues',
        '/admin/queues/',
        '/admin/queues/api/queues',
        '/admin/queues/api/redis/stats',
        '/admin/queues/api/queues/fix-jobs/add',
        '/admin/queues/api/queues/fix-jobs/retry/failed',
        '/admin/queues/api/queues/fix-jobs/clean/completed',
        '/admin/queues/api/queues/fix-jobs/pause',
        '/admin/queues/api/queues/fix-jobs/empty',
        '/admin/queues/api/queues/fix-jobs/fx-missing',
        '/admin/queues/api/queues/fix-jobs/fx-missing/logs',
        '/admin/queues/api/queues/nope/x',
        '/admin/queues/static/%2e%2e/%2e%2e/package.json',
        '/admin/queues/queue/fix-jobs',
      ),
      fc
        .array(
          fc.oneof(
            printable.map(encodeURIComponent),
            fc.constantFrom('%00', '%ff', '..', '%2e%2e', 'api', 'queues'),
          ),
          { maxLength: 4 },
        )
        .map((parts) => `/admin/${parts.join('/')}`),
    ),
    fc.oneof(fc.constant(bearer), wrongAuth),
    fc.oneof(
      fc.constant(undefined),
      fc
        .tuple(fc.constantFrom('token', 'x', 'token[]'), anyText)
        .map(([k, v]) => new URLSearchParams({ [k]: v }).toString()),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
      fc.uint8Array({ maxLength: 64 }),
    ),
    fc.constantFrom(
      'application/x-www-form-urlencoded',
      'application/json',
      'text/plain',
      'multipart/form-data',
    ),
  )
  .map(([method, path, auth, body, type]) => ({
    kind: 'admin',
    valid: false,
    method,
    path,
    headers: { ...auth, 'content-type': type, accept: 'application/json' },
    ...(body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body } : {}),
  }));

const probes: fc.Arbitrary<Probe> = fc.oneof(
  { arbitrary: restSubmitValid, weight: 2 },
  { arbitrary: restSubmitMutated, weight: 5 },
  { arbitrary: restSubmitUnauthorised, weight: 1 },
  { arbitrary: restSubmitBroken, weight: 1 },
  { arbitrary: restRead, weight: 2 },
  { arbitrary: githubValid, weight: 1 },
  { arbitrary: githubMutated, weight: 4 },
  { arbitrary: githubUnsigned, weight: 1 },
  { arbitrary: githubSignedJunk, weight: 1 },
  { arbitrary: gitlabValid, weight: 1 },
  { arbitrary: gitlabMutated, weight: 3 },
  { arbitrary: gitlabUnauthorised, weight: 1 },
  { arbitrary: gitlabJunk, weight: 1 },
  { arbitrary: admin, weight: 3 },
);

// ------------------------------------------------------------------------------------------------ run

let redis: TestRedis;
let app: RunningApp;
let baseUrl: string;
let client: Redis;
let queue: Queue;

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) / 1024;
}

async function jobs(): Promise<number> {
  return Object.values(await queue.getJobCounts()).reduce((sum, n) => sum + n, 0);
}

beforeAll(async () => {
  redis = await startTestRedis();
  const port = await freePort();
  app = startApp('api', {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    REDIS_URL: redis.url,
    HOST: '127.0.0.1',
    PORT: String(port),
    CI_FIXER_API_TOKEN: TOKEN,
    CI_FIXER_JOB_SIGNING_KEY: 'fuzz-signing-key-0123456789abcdef0123',
    GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
    GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN,
    // The fuzzer is one client sending thousands of requests: limits would answer most of them with 429
    // and leave the handlers untested. The limits have their own tests (edges.test.ts).
    API_TOKEN_REQUESTS_PER_WINDOW: '1000000',
    API_ADDRESS_REQUESTS_PER_WINDOW: '1000000',
    API_SIGN_IN_MAX_FAILURES: '10000',
    API_MAX_QUEUED_PER_REPO: '100000',
    API_MAX_QUEUED_PER_INSTALLATION: '1000000',
    FORGE_MAX_ATTEMPTS_PER_CHANGE: '100',
  });
  baseUrl = `http://127.0.0.1:${port}`;
  await waitFor('the API to be ready', async () => {
    if (app.process.exitCode !== null) throw new Error(`the API exited: ${app.output()}`);
    return (await fetch(`${baseUrl}/readyz`)).ok ? true : undefined;
  });
  client = new Redis(redis.url);
  queue = new Queue(QUEUE_NAME, { connection: client, prefix: QUEUE_PREFIX });
});

afterAll(async () => {
  await queue?.close();
  client?.disconnect();
  await app?.stop();
  await redis?.stop();
});

it(
  `answers ${RUNS} generated requests without a 5xx and enqueues nothing from invalid ones`,
  async () => {
    process.stdout.write(`fuzz: ${RUNS} requests, seed ${SEED} (replay with FUZZ_SEED=${SEED} pnpm fuzz)\n`);
    const statuses = new Map<number, number>();
    const kinds = new Map<string, number>();
    let enqueuedFromValid = 0;
    const rssBefore = rssMb(app.process.pid!);
    let rssPeak = rssBefore;
    let sent = 0;
    const started = Date.now();

    await fc.assert(
      fc.asyncProperty(probes, async (probe) => {
        const before = await jobs();
        const res = await fetch(`${baseUrl}${probe.path}`, {
          method: probe.method,
          headers: probe.headers,
          ...(probe.body !== undefined ? { body: probe.body } : {}),
          redirect: 'manual',
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        const added = (await jobs()) - before;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (++sent % 200 === 0) rssPeak = Math.max(rssPeak, rssMb(app.process.pid!));
        kinds.set(probe.kind, (kinds.get(probe.kind) ?? 0) + 1);
        if (res.status >= 500) {
          throw new Error(
            `${probe.kind}: ${probe.method} ${probe.path} ${JSON.stringify(probe.headers)} answered ${res.status}: ${text.slice(0, 300)}\nAPI log: ${app.output().split('\n').slice(-3).join('\n')}`,
          );
        }
        if (!probe.valid && added !== 0) {
          throw new Error(
            `${probe.kind}: ${probe.method} ${probe.path} was invalid but enqueued ${added} job(s); answer ${res.status} ${text.slice(0, 300)}`,
          );
        }
        if (probe.valid) enqueuedFromValid += added;
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: false, interruptAfterTimeLimit: 20 * 60_000 },
    );

    const seconds = (Date.now() - started) / 1000;
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
    const rssAfter = rssMb(app.process.pid!);
    const report = {
      requests: RUNS,
      seed: SEED,
      seconds: Number(seconds.toFixed(1)),
      statuses: Object.fromEntries([...statuses].sort(([a], [b]) => a - b)),
      enqueuedFromValid,
      rssMb: { before: Math.round(rssBefore), peak: Math.round(rssPeak), after: Math.round(rssAfter) },
      kinds: Object.fromEntries(kinds),
    };
    process.stdout.write(`fuzz: ${JSON.stringify(report)}\n`);
    // The generators must reach the code that enqueues, or "nothing invalid enqueued" proves nothing.
    expect(enqueuedFromValid).toBeGreaterThan(0);
    expect(Math.max(rssPeak, rssAfter)).toBeLessThan(RSS_LIMIT_MB);
  },
  30 * 60_000,
);

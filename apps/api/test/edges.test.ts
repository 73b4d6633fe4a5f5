/**
 * The API's limits at its edges, against real APIs on loopback and a private Redis per group: request
 * rates per token and per address (shared by two replicas), the sign-in throttle, the job-size bound,
 * the per-repository queue quota (REST and webhooks, freed by a real BullMQ worker finishing a job),
 * server-side sessions (sign-out and token rotation) with security headers, and the paged job list.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from 'bullmq';
import { QUEUE_NAME, QUEUE_PREFIX } from '@ci-fixer/queue';
import { startTestRedis, type TestRedis } from '../../../test/support/redis.ts';
import { SUMMARY_FIELD } from '../src/fix-queue.ts';
import {
  API_TOKEN,
  GITHUB_SECRET,
  failedWorkflowRun,
  postGitHub,
  startApi,
  type Json,
} from './webhooks-harness.ts';

type Api = Awaited<ReturnType<typeof startApi>>;
const auth = { authorization: `Bearer ${API_TOKEN}` };
const json = { ...auth, 'content-type': 'application/json' };
const sha = 'a'.repeat(40);
const request = (repo: string, command = 'npm run lint', extra: Json = {}) => ({
  repo: { url: `https://github.com/acme/${repo}`, sha },
  command,
  ...extra,
});
const submit = (api: Api, body: unknown) =>
  fetch(`${api.url}/v1/fix-jobs`, { method: 'POST', headers: json, body: JSON.stringify(body) });
const jobCount = async (api: Api) =>
  Object.values(await api.queue.getJobCounts()).reduce((sum, n) => sum + n, 0);

let redis: TestRedis;
const apis: Api[] = [];
async function api(env: Record<string, string> = {}): Promise<Api> {
  const started = await startApi(env, redis.url);
  apis.push(started);
  return started;
}

// A Redis of its own per test: counters are keyed by address, and every test comes from 127.0.0.1.
beforeAll(async () => {
  redis = await startTestRedis();
});
afterEach(async () => {
  await Promise.all(apis.splice(0).map((started) => started.close()));
  const { Redis } = await import('ioredis');
  const client = new Redis(redis.url);
  await client.flushdb(); // our own private server, started above
  client.disconnect();
});
afterAll(async () => {
  await redis?.stop();
});

async function expectLimited(res: Response, limit: string) {
  expect(res.status).toBe(429);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  const body = (await res.json()) as Json;
  expect(body.limit).toBe(limit);
  expect(body.detail).toMatch(/retry after \d+ s/);
  return body;
}

describe('request rate limits', () => {
  it('limits requests per token across two replicas on one Redis, with RateLimit headers', async () => {
    const env = { API_TOKEN_REQUESTS_PER_WINDOW: '3' };
    const [a, b] = [await api(env), await api(env)];
    for (const replica of [a, b, a]) {
      const res = await fetch(`${replica.url}/v1/fix-jobs`, { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toMatch(/"per-token"; q=3; w=60/);
      expect(res.headers.get('ratelimit')).toMatch(/"per-token"; r=\d; t=\d+/);
    }
    const body = await expectLimited(await fetch(`${b.url}/v1/fix-jobs`, { headers: auth }), 'per-token');
    expect(body.detail).toContain('API_TOKEN_REQUESTS_PER_WINDOW');
  });

  it('limits requests per address before authentication, so wrong tokens are bounded too', async () => {
    const limited = await api({ API_ADDRESS_REQUESTS_PER_WINDOW: '4' });
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${limited.url}/v1/fix-jobs`, { headers: { authorization: 'Bearer wrong' } });
      expect(res.status).toBe(401);
    }
    await expectLimited(await fetch(`${limited.url}/v1/fix-jobs`, { headers: auth }), 'per-address');
    await expectLimited(await fetch(`${limited.url}/admin/login`), 'per-address');
    // Health checks are never limited: an orchestrator must always be able to ask.
    expect((await fetch(`${limited.url}/healthz`)).status).toBe(200);
  });

  it('throttles failed sign-ins per address, and successful ones do not count', async () => {
    const limited = await api({ API_SIGN_IN_MAX_FAILURES: '3' });
    const signIn = (token: string) =>
      fetch(`${limited.url}/admin/login`, {
        method: 'POST',
        body: new URLSearchParams({ token }),
        redirect: 'manual',
      });
    for (let i = 0; i < 5; i++) expect((await signIn(API_TOKEN)).status).toBe(303);
    for (let i = 0; i < 3; i++) expect((await signIn(`wrong-${i}`)).status).toBe(401);
    // Throttled now, even with the right token: the guesser cannot tell a hit from a miss.
    const body = await expectLimited(await signIn(API_TOKEN), 'sign-in');
    expect(body.detail).toContain('API_SIGN_IN_MAX_FAILURES');
  });
});

describe('job bounds', () => {
  it('refuses a job payload over API_MAX_JOB_BYTES with 413 and enqueues nothing', async () => {
    const small = await api({ API_MAX_JOB_BYTES: '2048' });
    const res = await submit(small, request('widgets', 'npm test', { logs: 'x'.repeat(4000) }));
    expect(res.status).toBe(413);
    expect(((await res.json()) as Json).detail).toContain('API_MAX_JOB_BYTES');
    expect(await jobCount(small)).toBe(0);
    expect((await submit(small, request('widgets', 'npm test', { logs: 'x'.repeat(500) }))).status).toBe(202);
  });

  it('keeps at most API_MAX_QUEUED_PER_REPO unfinished jobs per repository, REST and webhooks together', async () => {
    const quota = await api({ API_MAX_QUEUED_PER_REPO: '2', GITHUB_WEBHOOK_SECRET: GITHUB_SECRET });
    const run = failedWorkflowRun();
    // The same URL the webhook job gets, so both count against one repository.
    const rest = (command: string) => ({ repo: { url: run.repository.clone_url as string, sha }, command });

    const first = (await (await submit(quota, rest('npm run lint'))).json()) as Json;
    expect((await submit(quota, rest('npm run build'))).status).toBe(202);
    // A duplicate is answered with the existing job, never counted twice.
    expect((await submit(quota, rest('npm run build'))).status).toBe(200);
    await expectLimited(await submit(quota, rest('npm test')), 'queued-per-repo');
    // The webhook for the same repository is refused too, and forgotten so a redelivery can succeed.
    const delivery = 'quota-delivery-1';
    const hook = await postGitHub(quota.url, 'workflow_run', run, { delivery });
    await expectLimited(hook, 'queued-per-repo');
    // Another repository has its own quota.
    expect((await submit(quota, request('other-repo'))).status).toBe(202);
    expect(await jobCount(quota)).toBe(3);

    // Cancelling gives the place back at once.
    expect(
      (await fetch(`${quota.url}/v1/fix-jobs/${first.id}/cancel`, { method: 'POST', headers: auth })).status,
    ).toBe(202);
    const again = await postGitHub(quota.url, 'workflow_run', run, { delivery });
    expect(again.status).toBe(202);
    await expectLimited(await submit(quota, rest('npm test')), 'queued-per-repo');

    // A worker finishing a job frees its place too.
    let finished = 0;
    const worker = new Worker(
      QUEUE_NAME,
      async (job) => {
        finished++;
        return { outcome: 'not_reproducible', reason: `done ${job.id}`, steps: [] };
      },
      { connection: { url: redis.url }, prefix: QUEUE_PREFIX },
    );
    try {
      await expect.poll(() => finished, { timeout: 10_000 }).toBeGreaterThanOrEqual(4);
      await expect.poll(async () => (await quota.queue.getJobCounts('completed')).completed).toBe(4);
    } finally {
      await worker.close();
    }
    expect((await submit(quota, rest('npm test'))).status).toBe(202);
  });
  it('keeps at most API_MAX_QUEUED_PER_INSTALLATION unfinished jobs per GitHub App installation, across its repositories', async () => {
    const quota = await api({ API_MAX_QUEUED_PER_INSTALLATION: '2', GITHUB_WEBHOOK_SECRET: GITHUB_SECRET });
    let runId = 9_000;
    const runOf = (name: string, installation: number) => {
      const run = failedWorkflowRun();
      const fullName = `acme/${name}`;
      run.repository.full_name = fullName;
      run.repository.clone_url = `https://github.com/${fullName}.git`;
      run.workflow_run.head_repository = { ...run.workflow_run.head_repository, full_name: fullName };
      run.workflow_run.id = ++runId;
      run.installation = { id: installation };
      return run;
    };
    expect((await postGitHub(quota.url, 'workflow_run', runOf('one', 42))).status).toBe(202);
    expect((await postGitHub(quota.url, 'workflow_run', runOf('two', 42))).status).toBe(202);
    // A third repository of the same installation is over the installation's share, though its own is free.
    const body = await expectLimited(
      await postGitHub(quota.url, 'workflow_run', runOf('three', 42)),
      'queued-per-installation',
    );
    expect(body.detail).toContain('GitHub App installation 42 already has 2 fix jobs queued or running');
    expect(body.detail).toContain('API_MAX_QUEUED_PER_INSTALLATION');
    // Another installation, and REST jobs (which belong to none), have their own shares.
    expect((await postGitHub(quota.url, 'workflow_run', runOf('three', 43))).status).toBe(202);
    expect((await submit(quota, request('three'))).status).toBe(202);
    expect(await jobCount(quota)).toBe(4);
  });
});

describe('dashboard sessions and headers', () => {
  async function signIn(target: Api): Promise<string> {
    const login = await fetch(`${target.url}/admin/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: API_TOKEN }),
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    return login.headers.get('set-cookie')!.split(';')[0]!;
  }
  const board = (target: Api, cookie: string) =>
    fetch(`${target.url}/admin/queues/api/queues`, { headers: { cookie, accept: 'application/json' } });

  it('refuses a session cookie replayed after sign-out, on every replica', async () => {
    const [a, b] = [await api(), await api()];
    const cookie = await signIn(a);
    expect((await board(b, cookie)).status).toBe(200);
    const logout = await fetch(`${b.url}/admin/logout`, {
      method: 'POST',
      headers: { cookie },
      redirect: 'manual',
    });
    expect(logout.status).toBe(303);
    expect(logout.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    expect((await board(a, cookie)).status).toBe(401);
    expect((await board(b, cookie)).status).toBe(401);
  });

  it('ends sessions opened under a token once the token is rotated', async () => {
    const before = await api();
    const cookie = await signIn(before);
    const rotated = await api({ CI_FIXER_API_TOKEN: 'a-rotated-token-0123456789' });
    expect((await board(rotated, cookie)).status).toBe(401);
    // Refused on sight and deleted: even a replica still on the old token no longer accepts it.
    expect((await board(before, cookie)).status).toBe(401);
  });

  it('sets Secure on the cookie in production even over plain HTTP', async () => {
    const production = await api({
      NODE_ENV: 'production',
      CI_FIXER_JOB_SIGNING_KEY: 'k'.repeat(32),
    });
    const login = await fetch(`${production.url}/admin/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: API_TOKEN }),
      redirect: 'manual',
    });
    expect(login.headers.get('set-cookie')).toMatch(/; Secure/);
    const development = await api();
    const plain = await fetch(`${development.url}/admin/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: API_TOKEN }),
      redirect: 'manual',
    });
    expect(plain.headers.get('set-cookie')).not.toMatch(/Secure/);
  });

  it('sends security headers on every HTML page and links nothing from another origin', async () => {
    const target = await api();
    const cookie = await signIn(target);
    for (const [path, headers] of [
      ['/admin/login', {}],
      ['/admin/queues', { cookie, accept: 'text/html' }],
    ] as const) {
      const res = await fetch(`${target.url}${path}`, { headers });
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      const html = await res.text();
      expect(html).toContain('<html');
      expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    }
  });
});

describe('the job list', () => {
  it('pages through every job once with a cursor, filters by status, and shows no payload', async () => {
    const target = await api();
    const ids: string[] = [];
    for (const command of ['fix-me', 'give-up', 'crash', 'fix-me-too']) {
      ids.push(((await (await submit(target, request('listed', command))).json()) as Json).id);
    }
    const worker = new Worker(
      QUEUE_NAME,
      async (job) => {
        const command = job.data.request.command as string;
        if (command === 'crash') throw new Error('the clone failed');
        return {
          outcome: command.startsWith('fix-me') ? 'fixed' : 'unfixable',
          reason: `finished ${command}`,
          patch: 'diff --git a/x b/x\n',
          steps: [{ stage: 'reproducing', logTail: 'secret-ish output' }],
        };
      },
      { connection: { url: redis.url }, prefix: QUEUE_PREFIX },
    );
    try {
      await expect
        .poll(async () => {
          const counts = await target.queue.getJobCounts('completed', 'failed');
          return counts.completed! + counts.failed!;
        })
        .toBe(4);
    } finally {
      await worker.close();
    }
    for (const command of ['queued-1', 'queued-2', 'queued-3']) {
      ids.push(
        (
          (await (
            await submit(target, request('listed', command, { logs: 'L'.repeat(20_000) }))
          ).json()) as Json
        ).id,
      );
    }
    // A job added before the list summary existed is still listed, from its payload.
    const legacy = ids.at(-1)!;
    await target.redis.hdel(target.queue.toKey(legacy), SUMMARY_FIELD);

    const seen: Json[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `limit=2&cursor=${cursor}` : 'limit=2';
      const page = (await (
        await fetch(`${target.url}/v1/fix-jobs?${query}`, { headers: auth })
      ).json()) as Json;
      expect(page.items.length).toBeLessThanOrEqual(2);
      expect(page.total).toBe(7);
      seen.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.map((item) => item.id).sort()).toEqual([...ids].sort());
    // Unfinished first (queue order: newest queued first), then finished, most recent first.
    expect(seen.slice(0, 3).map((item) => item.status)).toEqual(['queued', 'queued', 'queued']);
    for (const item of seen) {
      expect(Object.keys(item).sort()).toEqual(
        [
          'attempts',
          'command',
          'createdAt',
          'finishedAt',
          'id',
          'reason',
          'repo',
          'stage',
          'startedAt',
          'status',
        ].sort(),
      );
      expect(item.repo.url).toBe('https://github.com/acme/listed');
    }
    expect(seen.find((item) => item.id === legacy)!.command).toBe('queued-3');
    const crashed = seen.find((item) => item.command === 'crash')!;
    expect(crashed).toMatchObject({ status: 'failed', reason: 'the clone failed' });
    expect(seen.find((item) => item.command === 'give-up')).toMatchObject({
      status: 'unfixable',
      reason: 'finished give-up',
    });

    const fixed = (await (
      await fetch(`${target.url}/v1/fix-jobs?status=fixed&limit=1`, { headers: auth })
    ).json()) as Json;
    expect(fixed.items.map((item: Json) => item.command)).toHaveLength(1);
    expect(fixed.total).toBeUndefined();
    const rest = (await (
      await fetch(`${target.url}/v1/fix-jobs?status=fixed&limit=5&cursor=${fixed.nextCursor}`, {
        headers: auth,
      })
    ).json()) as Json;
    expect([...fixed.items, ...rest.items].map((item: Json) => item.command).sort()).toEqual([
      'fix-me',
      'fix-me-too',
    ]);
    expect(rest.nextCursor).toBeNull();

    for (const cursor of ['nope', Buffer.from('{"u":-1}').toString('base64url'), 'x'.repeat(2000)]) {
      const bad = await fetch(`${target.url}/v1/fix-jobs?cursor=${cursor}`, { headers: auth });
      expect(bad.status).toBe(400);
    }
  });
});

// Each 5xx or invalid enqueue the fuzz suite (fuzz.test.ts) found, as a fixed case.
describe('what the fuzzer found', () => {
  it('answers a body that does not decode as its Content-Encoding with 400, not 500', async () => {
    const target = await api({ GITHUB_WEBHOOK_SECRET: GITHUB_SECRET });
    const rest = await fetch(`${target.url}/v1/fix-jobs`, {
      method: 'POST',
      headers: { ...json, 'content-encoding': 'gzip' },
      body: JSON.stringify(request('widgets')),
    });
    expect(rest.status).toBe(400);
    expect(((await rest.json()) as Json).title).toBe('Malformed Body');
    const body = JSON.stringify(failedWorkflowRun());
    const hook = await postGitHub(target.url, 'workflow_run', undefined, {
      body,
      headers: { 'content-encoding': 'deflate' },
    });
    expect(hook.status).toBe(400);
    expect(await jobCount(target)).toBe(0);
  });

  it('answers a path that is not validly percent-encoded with 400, not 500', async () => {
    const target = await api();
    for (const path of ['/v1/fix-jobs/%ff', '/v1/fix-jobs/%E0%A4%A/cancel']) {
      const res = await fetch(`${target.url}${path}`, {
        method: path.endsWith('cancel') ? 'POST' : 'GET',
        headers: auth,
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as Json).title).toBe('Invalid Path');
    }
  });

  it('queues no webhook job whose clone URL a REST request could not name', async () => {
    const target = await api({ GITHUB_WEBHOOK_SECRET: GITHUB_SECRET });
    for (const url of [
      'https://github.com/acme/app?x=1',
      'https://github.com\\@127.0.0.1:9419/acme/app',
      'http://192.168.64.1:3005/a/b.git',
    ]) {
      const run = failedWorkflowRun();
      run.repository.clone_url = url;
      const res = await postGitHub(target.url, 'workflow_run', run);
      expect(res.status).toBe(200);
      expect(((await res.json()) as Json).reason).toMatch(/clone URL is not allowed/);
    }
    expect(await jobCount(target)).toBe(0);
  });
});

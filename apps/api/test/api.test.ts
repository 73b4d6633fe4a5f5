import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@ci-fixer/config';
import { startTestRedis, type TestRedis } from '../../../test/support/redis.ts';
import { captureLogger } from '../../../test/support/logger.ts';
import { startApi, type RunningApi } from '../src/server.ts';

const TOKEN = 'test-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };
const json = { ...auth, 'content-type': 'application/json' };

let api: RunningApi;
let redis: TestRedis;
const valid = {
  repo: { url: 'https://github.com/acme/widgets', sha: 'a'.repeat(40) },
  command: 'npm run lint',
};

async function jobCount(): Promise<number> {
  const counts = await api.queue.getJobCounts();
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}

beforeAll(async () => {
  redis = await startTestRedis();
  const config = loadConfig({
    REDIS_URL: redis.url,
    PORT: '0',
    CI_FIXER_API_TOKEN: TOKEN,
    API_MAX_BODY_BYTES: '4096',
  });
  api = await startApi(config, TOKEN, captureLogger().logger);
});
afterAll(async () => {
  await api?.close();
  await redis?.stop();
});

describe('health', () => {
  it('answers liveness and readiness', async () => {
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${api.url}/readyz`)).json()).toEqual({ status: 'ready' });
  });

  it('reports not ready with 503 while Redis is unreachable', async () => {
    const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1:1', PORT: '0', CI_FIXER_API_TOKEN: TOKEN });
    const offline = await startApi(config, TOKEN, captureLogger().logger);
    try {
      const res = await fetch(`${offline.url}/readyz`);
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      // Where it looked and what the connection said, not the client library's internals.
      expect(((await res.json()) as { detail: string }).detail).toMatch(
        /^cannot reach Redis at 127\.0\.0\.1:1 \(.*ECONNREFUSED.*\)$/,
      );
      expect((await fetch(`${offline.url}/healthz`)).status).toBe(200);
      const submit = await fetch(`${offline.url}/v1/fix-jobs`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify(valid),
      });
      expect(submit.status).toBe(503);
      expect(submit.headers.get('retry-after')).toBe('5');
      expect(((await submit.json()) as { detail: string }).detail).toMatch(
        /^cannot reach Redis at 127\.0\.0\.1:1 .*; nothing was done, try again shortly$/,
      );
    } finally {
      await offline.close();
    }
  });
});

describe('bad input is refused with a problem document and enqueues nothing', () => {
  const cases: [string, RequestInit, number][] = [
    [
      'no token',
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(valid) },
      401,
    ],
    [
      'a wrong token',
      {
        method: 'POST',
        headers: { authorization: 'Bearer nope', 'content-type': 'application/json' },
        body: JSON.stringify(valid),
      },
      401,
    ],
    ['malformed JSON', { method: 'POST', headers: json, body: '{"repo": ' }, 400],
    ['unknown fields', { method: 'POST', headers: json, body: JSON.stringify({ ...valid, extra: 1 }) }, 400],
    [
      'unknown nested fields',
      {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ ...valid, repo: { ...valid.repo, branch: 'x' } }),
      },
      400,
    ],
    [
      'wrong types',
      { method: 'POST', headers: json, body: JSON.stringify({ repo: { url: 42 }, command: ['npm'] }) },
      400,
    ],
    ['a missing command', { method: 'POST', headers: json, body: JSON.stringify({ repo: valid.repo }) }, 400],
    [
      'an empty command',
      { method: 'POST', headers: json, body: JSON.stringify({ ...valid, command: '   ' }) },
      400,
    ],
    [
      'a sha that is not hex',
      {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ ...valid, repo: { url: valid.repo.url, sha: 'zzzzzzz' } }),
      },
      400,
    ],
    [
      'a ref that looks like an option',
      {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ ...valid, repo: { url: valid.repo.url, ref: '--upload-pack=x' } }),
      },
      400,
    ],
    ['a JSON array body', { method: 'POST', headers: json, body: '[]' }, 400],
    [
      'a wrong content type',
      { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: JSON.stringify(valid) },
      415,
    ],
    [
      'a body over the limit',
      { method: 'POST', headers: json, body: JSON.stringify({ ...valid, logs: 'x'.repeat(8000) }) },
      413,
    ],
    [
      'a file repository while those are disabled',
      { method: 'POST', headers: json, body: JSON.stringify({ ...valid, repo: { url: '/srv/repo' } }) },
      422,
    ],
    [
      'a host outside the allow-list',
      {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ ...valid, repo: { url: 'https://evil.example/acme/x' } }),
      },
      422,
    ],
    [
      'credentials in the URL',
      {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ ...valid, repo: { url: 'https://x:secret@github.com/acme/x' } }),
      },
      422,
    ],
    [
      'a plain http URL',
      {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ ...valid, repo: { url: 'http://github.com/acme/x' } }),
      },
      422,
    ],
  ];

  it.each(cases)('%s', async (_name, init, status) => {
    const before = await jobCount();
    const res = await fetch(`${api.url}/v1/fix-jobs`, init);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await res.json()) as { status: number; title: string; detail: string };
    expect(problem.status).toBe(status);
    expect(problem.detail.length).toBeGreaterThan(10);
    expect(await jobCount()).toBe(before);
  });

  it('names the offending fields', async () => {
    const res = await fetch(`${api.url}/v1/fix-jobs`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ ...valid, extra: 1 }),
    });
    const problem = (await res.json()) as { errors: { path: string; message: string }[] };
    expect(problem.errors).toEqual([{ path: '(root)', message: 'unknown field(s): extra' }]);
  });

  it('answers unknown routes with 404 problems', async () => {
    const res = await fetch(`${api.url}/v2/nothing`, { headers: auth });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });
});

describe('fix jobs', () => {
  it('accepts a job with 202 and a Location, then shows it queued', async () => {
    const res = await fetch(`${api.url}/v1/fix-jobs`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify(valid),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; status: string };
    expect(body.status).toBe('queued');
    expect(res.headers.get('location')).toBe(`/v1/fix-jobs/${body.id}`);

    const view = (await (
      await fetch(`${api.url}${res.headers.get('location')}`, { headers: auth })
    ).json()) as Record<string, unknown>;
    expect(view).toMatchObject({
      id: body.id,
      status: 'queued',
      stage: null,
      command: 'npm run lint',
      repo: valid.repo,
      patch: null,
      steps: [],
    });
    expect(Date.parse(view.createdAt as string)).not.toBeNaN();
  });

  it('deduplicates the same repository, commit and command while the first is queued', async () => {
    const request = { ...valid, command: 'npm test' };
    const first = await fetch(`${api.url}/v1/fix-jobs`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify(request),
    });
    const second = await fetch(`${api.url}/v1/fix-jobs`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify(request),
    });
    const other = await fetch(`${api.url}/v1/fix-jobs`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ ...request, command: 'npm run build' }),
    });
    const [a, b, c] = (await Promise.all([first.json(), second.json(), other.json()])) as {
      id: string;
      deduplicated?: boolean;
    }[];
    expect(first.status).toBe(202);
    expect(second.status).toBe(200);
    expect(b!.id).toBe(a!.id);
    expect(b!.deduplicated).toBe(true);
    expect(second.headers.get('location')).toBe(`/v1/fix-jobs/${a!.id}`);
    expect(c!.id).not.toBe(a!.id);
  });

  it('returns 404 for an unknown job', async () => {
    const res = await fetch(`${api.url}/v1/fix-jobs/fx-unknown`, { headers: auth });
    expect(res.status).toBe(404);
  });

  it('lists jobs, filtered by status and paged', async () => {
    const all = (await (await fetch(`${api.url}/v1/fix-jobs?limit=2`, { headers: auth })).json()) as {
      items: { status: string }[];
      total: number;
    };
    expect(all.items).toHaveLength(2);
    expect(all.total).toBeGreaterThanOrEqual(3);
    const fixed = (await (await fetch(`${api.url}/v1/fix-jobs?status=fixed`, { headers: auth })).json()) as {
      items: unknown[];
      nextCursor: string | null;
    };
    expect(fixed.items).toEqual([]);
    expect(fixed.nextCursor).toBeNull();
    const bad = await fetch(`${api.url}/v1/fix-jobs?status=bogus`, { headers: auth });
    expect(bad.status).toBe(400);
  });

  it('cancels a queued job, frees its deduplication key, and refuses to cancel twice', async () => {
    const request = { ...valid, command: 'npm run typecheck' };
    const { id } = (await (
      await fetch(`${api.url}/v1/fix-jobs`, { method: 'POST', headers: json, body: JSON.stringify(request) })
    ).json()) as { id: string };
    const cancel = await fetch(`${api.url}/v1/fix-jobs/${id}/cancel`, { method: 'POST', headers: auth });
    expect(cancel.status).toBe(202);
    const view = (await (await fetch(`${api.url}/v1/fix-jobs/${id}`, { headers: auth })).json()) as {
      status: string;
    };
    expect(view.status).toBe('cancelled');
    const again = (await (
      await fetch(`${api.url}/v1/fix-jobs`, { method: 'POST', headers: json, body: JSON.stringify(request) })
    ).json()) as { id: string };
    expect(again.id).not.toBe(id);
    const missing = await fetch(`${api.url}/v1/fix-jobs/fx-missing/cancel`, {
      method: 'POST',
      headers: auth,
    });
    expect(missing.status).toBe(404);
  });
});

describe('dashboard', () => {
  it('sends a browser to the login page and a tool a 401', async () => {
    const browser = await fetch(`${api.url}/admin/queues`, {
      headers: { accept: 'text/html' },
      redirect: 'manual',
    });
    expect(browser.status).toBe(303);
    expect(browser.headers.get('location')).toBe('/admin/login');
    const tool = await fetch(`${api.url}/admin/queues/api/queues`, {
      headers: { accept: 'application/json' },
    });
    expect(tool.status).toBe(401);
  });

  it('serves Bull Board to the bearer token', async () => {
    const res = await fetch(`${api.url}/admin/queues/api/queues`, {
      headers: { ...auth, accept: 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(JSON.stringify(await res.json())).toContain('fix-jobs');
  });

  it('logs a person in with an HttpOnly cookie that does not contain the token', async () => {
    const wrong = await fetch(`${api.url}/admin/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: 'nope' }),
      redirect: 'manual',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();

    const login = await fetch(`${api.url}/admin/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: TOKEN }),
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(TOKEN);

    const session = cookie.split(';')[0]!;
    const page = await fetch(`${api.url}/admin/queues`, {
      headers: { cookie: session, accept: 'text/html' },
    });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const forged = await fetch(`${api.url}/admin/queues/api/queues`, {
      headers: { cookie: `${session}x`, accept: 'application/json' },
    });
    expect(forged.status).toBe(401);
    // The cookie opens the dashboard only, never the REST API.
    const rest = await fetch(`${api.url}/v1/fix-jobs`, { headers: { cookie: session } });
    expect(rest.status).toBe(401);
  });
});

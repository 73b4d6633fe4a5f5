/**
 * Errors decide retries, through the real API and worker processes: a repository that does not exist
 * fails its job once, with a reason a user can act on; a sandbox destroyed from outside while its fix runs
 * is the platform's fault, retried, and never an answer about the repository.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LocalDriver } from '@ci-fixer/sandbox/local';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGoRepo, GO_FIXTURES } from '../support/go-repos.ts';
import { freePort, startApp, waitFor, type RunningApp } from '../support/processes.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { localSandboxDirs } from '../support/sandboxes.ts';

const TOKEN = 'errors-token-0123456789abcdef';
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const work = mkdtempSync(path.join(os.tmpdir(), 'cif-errors-'));
const sandboxRoot = path.join(work, 'sandboxes');
let redis: TestRedis;
let api: RunningApp;
let worker: RunningApp;
let baseUrl: string;

interface JobView {
  status: string;
  stage: string | null;
  attempts: number;
  reason: string | null;
}

beforeAll(async () => {
  redis = await startTestRedis();
  const port = await freePort();
  const env = {
    REDIS_URL: redis.url,
    PORT: String(port),
    CI_FIXER_API_TOKEN: TOKEN,
    CI_FIXER_ALLOW_FILE_REPOS: 'true',
    SANDBOX_LOCAL_ROOT: sandboxRoot,
    JOB_ATTEMPTS: '3',
    JOB_BACKOFF_MS: '200',
  };
  api = startApp('api', env);
  worker = startApp('worker', env);
  baseUrl = `http://127.0.0.1:${port}`;
  await waitFor('the API', async () => ((await fetch(`${baseUrl}/readyz`)).ok ? true : undefined));
  await waitFor('the worker', () => (worker.output().includes('worker started') ? true : undefined));
});

afterAll(async () => {
  await Promise.all([api?.stop(), worker?.stop()]);
  await redis?.stop();
});

async function submit(url: string, command: string): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/fix-jobs`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ repo: { url }, command }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const view = async (id: string) =>
  (await (await fetch(`${baseUrl}/v1/fix-jobs/${id}`, { headers })).json()) as JobView;

const settled = (id: string) =>
  waitFor(
    `job ${id} to end`,
    async () => {
      const current = await view(id);
      return ['queued', 'running'].includes(current.status) ? undefined : current;
    },
    { timeoutMs: 90_000, intervalMs: 200 },
  );

it('fails a job whose repository does not exist once, saying so', async () => {
  const missing = pathToFileURL(path.join(work, 'no-such-repository')).href;
  const id = await submit(missing, 'true');
  const final = await settled(id);
  expect(final.status).toBe('failed');
  expect(final.attempts).toBe(1);
  expect(final.reason).toMatch(/^repository not found: check the URL and the credentials/);
  expect(final.reason).toContain('does not appear to be a git repository');
  // Nothing retries it behind the API's back.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect((await view(id)).attempts).toBe(1);
  expect(worker.output()).toContain('"kind":"repository-not-found"');
});

it('retries a fix whose sandbox was destroyed from outside, and never calls it unfixable', async () => {
  const repo = createGoRepo('clean', mkdtempSync(path.join(work, 'clean-')));
  // The sleep keeps the first attempt running while its sandbox is destroyed by someone else.
  const id = await submit(repo.path, `sleep 3; ${GO_FIXTURES.clean.command}`);
  await waitFor('the job to reproduce', async () =>
    (await view(id)).stage === 'reproducing' ? true : undefined,
  );
  const [sandbox] = localSandboxDirs(sandboxRoot);
  // Another owner of the same root, like a reaper that took this worker for dead.
  await new LocalDriver({ root: path.join(sandboxRoot, path.dirname(sandbox!)) }).destroy(
    path.basename(sandbox!),
  );
  const final = await settled(id);
  expect(final.status).toBe(GO_FIXTURES.clean.outcome);
  // The killed attempt and the one that finished.
  expect(final.attempts).toBe(2);
  expect(worker.output()).toMatch(/"fault":"sandbox-gone"/);
  expect(worker.output()).toMatch(
    new RegExp(`the sandbox (${path.basename(sandbox!)} was destroyed|was ended) from outside`),
  );
  await waitFor('no sandbox left', () => (localSandboxDirs(sandboxRoot).length === 0 ? true : undefined));
});

/**
 * A worker killed with SIGKILL in the middle of a fix loses nothing: BullMQ's stalled-job check hands the
 * job to a second worker, which finishes it, and the dead worker's sandbox is reaped because its owner's
 * heartbeat is gone.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createFixtureRepo } from '../support/fixture-repos.ts';
import { freePort, startApp, waitFor, type RunningApp } from '../support/processes.ts';
import { localSandboxDirs } from '../support/sandboxes.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const TOKEN = 'crash-token-0123456789abcdef';
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
let running: RunningApp[] = [];
let servers: TestRedis[] = [];

// Each test stops what it started, so no worker of one test takes the next test's job.
afterEach(async () => {
  await Promise.all(running.map((app) => app.stop()));
  running = [];
  await Promise.all(servers.map((server) => server.stop()));
  servers = [];
});

/** A private, empty Redis for one test, stopped after it. */
async function freshRedis(): Promise<string> {
  const server = await startTestRedis();
  servers.push(server);
  return server.url;
}

it('finishes a job whose worker was killed, and reaps the dead worker’s sandbox', async () => {
  const port = await freePort();
  const sandboxRoot = mkdtempSync(path.join(os.tmpdir(), 'cif-crash-sandboxes-'));
  const env = {
    REDIS_URL: await freshRedis(),
    PORT: String(port),
    CI_FIXER_API_TOKEN: TOKEN,
    CI_FIXER_ALLOW_FILE_REPOS: 'true',
    SANDBOX_LOCAL_ROOT: sandboxRoot,
    // Short enough that the test does not wait half a minute for the lock to lapse.
    WORKER_LOCK_DURATION_MS: '2000',
    WORKER_HEARTBEAT_TTL_MS: '2000',
  };
  const api = startApp('api', env);
  const first = startApp('worker', env);
  running.push(api, first);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor('the API', async () => ((await fetch(`${baseUrl}/readyz`)).ok ? true : undefined));

  const repo = createFixtureRepo('prettier');
  // The sleep keeps the job in its reproducing stage long enough to kill the worker there.
  const res = await fetch(`${baseUrl}/v1/fix-jobs`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ repo: { url: repo.path }, command: 'sleep 3; npm run format:check' }),
  });
  const { id } = (await res.json()) as { id: string };
  const view = async () =>
    (await (await fetch(`${baseUrl}/v1/fix-jobs/${id}`, { headers })).json()) as {
      status: string;
      stage: string | null;
      attempts: number;
    };
  await waitFor('the job to reach reproducing', async () =>
    (await view()).stage === 'reproducing' ? true : undefined,
  );

  const orphaned = localSandboxDirs(sandboxRoot);
  expect(orphaned).toHaveLength(1);
  await first.stop('SIGKILL');
  expect(localSandboxDirs(sandboxRoot)).toContain(orphaned[0]);

  const second = startApp('worker', env);
  running.push(second);
  const final = await waitFor(
    'a second worker to finish the job',
    async () => {
      const current = await view();
      return ['queued', 'running'].includes(current.status) ? undefined : current;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  expect(final.status).toBe('fixed');

  await waitFor('every sandbox to be gone', () =>
    localSandboxDirs(sandboxRoot).length === 0 ? true : undefined,
  );
  // Found by the start-up sweep (same host, owner process gone) or by the heartbeat reaper.
  expect(second.output()).toContain(path.basename(orphaned[0]!));
  expect(second.output()).toMatch(/reaped sandboxes of dead workers|cleared sandboxes of dead owners/);
});

it('stops on SIGTERM with exit code 0 and hands a running job back', async () => {
  const port = await freePort();
  const env = {
    REDIS_URL: await freshRedis(),
    PORT: String(port),
    CI_FIXER_API_TOKEN: TOKEN,
    CI_FIXER_ALLOW_FILE_REPOS: 'true',
    SANDBOX_LOCAL_ROOT: mkdtempSync(path.join(os.tmpdir(), 'cif-term-sandboxes-')),
    WORKER_SHUTDOWN_GRACE_SECONDS: '1',
  };
  const api = startApp('api', env);
  const worker = startApp('worker', env);
  running.push(api, worker);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor('the API', async () => ((await fetch(`${baseUrl}/readyz`)).ok ? true : undefined));
  const repo = createFixtureRepo('passing');
  const res = await fetch(`${baseUrl}/v1/fix-jobs`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ repo: { url: repo.path }, command: 'sleep 60' }),
  });
  const { id } = (await res.json()) as { id: string };
  await waitFor('the job to run', async () => {
    const current = (await (await fetch(`${baseUrl}/v1/fix-jobs/${id}`, { headers })).json()) as {
      stage: string | null;
    };
    return current.stage === 'reproducing' ? true : undefined;
  });
  expect(await worker.stop('SIGTERM')).toBe(0);
  const after = (await (await fetch(`${baseUrl}/v1/fix-jobs/${id}`, { headers })).json()) as {
    status: string;
  };
  expect(after.status).toBe('queued');
  expect(worker.output()).toContain('handing the job back to the queue');
});

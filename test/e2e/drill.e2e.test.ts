/**
 * An operator's bad day as a test (issue 15): the real API, two real workers (local driver) and Redis
 * with an append-only file, all separate processes; distinct fix jobs of each kind; workers SIGKILLed while
 * jobs run and Redis SIGKILLed and restarted from its AOF at fixed points. Every accepted job must end in
 * its expected status, no fix may run to its end twice, and no sandbox may be left. Then a Redis outage
 * longer than the heartbeat TTL while sandboxes run: nobody's sandbox is reaped, and every job finishes.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createGoRepo, GO_FIXTURES, type GoFixtureKind } from '../support/go-repos.ts';
import { freePort, startApp, waitFor, type RunningApp } from '../support/processes.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { localSandboxDirs } from '../support/sandboxes.ts';

const TOKEN = 'drill-token-0123456789abcdef';
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const KINDS: GoFixtureKind[] = ['formatter', 'clean', 'logic'];
// Short leases, as in the drill of the issue: a dead worker's jobs move on within seconds.
const SHORT = { WORKER_LOCK_DURATION_MS: '4000', WORKER_HEARTBEAT_TTL_MS: '2000' };

let running: RunningApp[] = [];
let servers: TestRedis[] = [];
afterEach(async () => {
  await Promise.all(running.map((app) => app.stop()));
  running = [];
  await Promise.all(servers.map((server) => server.stop()));
  servers = [];
});

interface JobView {
  id: string;
  status: string;
  stage: string | null;
  attempts: number;
  reason: string | null;
  patch: string | null;
}

interface Submitted {
  id: string;
  kind: GoFixtureKind;
}

/** One deployment: an API and workers on one Redis, sharing a sandbox root and a dependency cache. */
async function deployment(redis: TestRedis, settings: Record<string, string>) {
  const work = mkdtempSync(path.join(os.tmpdir(), 'cif-drill-'));
  const port = await freePort();
  const sandboxRoot = path.join(work, 'sandboxes');
  const env = {
    REDIS_URL: redis.url,
    PORT: String(port),
    CI_FIXER_API_TOKEN: TOKEN,
    CI_FIXER_ALLOW_FILE_REPOS: 'true',
    SANDBOX_LOCAL_ROOT: sandboxRoot,
    // Go's build cache shared by every sandbox: `go test` compiles the standard library once, not per job.
    DEPENDENCY_CACHE_DIR: path.join(work, 'cache'),
    DEPENDENCY_CACHE_SCOPE: 'shared',
    WORKER_CONCURRENCY: '2',
    JOB_ATTEMPTS: '3',
    JOB_BACKOFF_MS: '500',
    // The test follows every job; its polling is not what is under test.
    API_TOKEN_REQUESTS_PER_WINDOW: '1000000',
    API_ADDRESS_REQUESTS_PER_WINDOW: '1000000',
    ...settings,
  };
  const baseUrl = `http://127.0.0.1:${port}`;
  const workers: RunningApp[] = [];
  const everyWorker: RunningApp[] = [];
  const startWorker = async () => {
    const worker = startApp('worker', env);
    running.push(worker);
    workers.push(worker);
    everyWorker.push(worker);
    await waitFor('a worker to start', () => (worker.output().includes('worker started') ? true : undefined));
    return worker;
  };
  const api = startApp('api', env);
  running.push(api);
  const ready = () =>
    waitFor('the API to be ready', async () => ((await fetch(`${baseUrl}/readyz`)).ok ? true : undefined));
  await ready();
  await Promise.all([startWorker(), startWorker()]);

  let count = 0;
  const submit = async (kind: GoFixtureKind, prefix: string): Promise<Submitted> => {
    const repo = createGoRepo(kind, mkdtempSync(path.join(work, `repo-${++count}-`)));
    const res = await fetch(`${baseUrl}/v1/fix-jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        repo: { url: repo.path, sha: repo.sha },
        command: `${prefix}${GO_FIXTURES[kind].command}`,
      }),
    });
    expect(res.status).toBe(202);
    return { id: ((await res.json()) as { id: string }).id, kind };
  };
  const view = async (id: string) =>
    (await (await fetch(`${baseUrl}/v1/fix-jobs/${id}`, { headers })).json()) as JobView;
  const settled = (jobs: Submitted[], timeoutMs: number) => {
    const ended = new Map<string, JobView>();
    return waitFor(
      'every job to end',
      async () => {
        for (const job of jobs.filter((each) => !ended.has(each.id))) {
          const current = await view(job.id);
          if (!['queued', 'running'].includes(current.status)) ended.set(job.id, current);
        }
        return ended.size === jobs.length ? jobs.map((job) => ended.get(job.id)!) : undefined;
      },
      { timeoutMs, intervalMs: 500 },
    );
  };
  /** The outcome of every fix of a job that ran to its end, over every worker process of this deployment. */
  const finishedFixes = (id: string): string[] =>
    everyWorker
      .flatMap((worker) => worker.output().split('\n'))
      .filter((line) => line.includes('"fix finished"') && line.includes(`"jobId":"${id}"`))
      .map((line) => (JSON.parse(line) as { outcome: string }).outcome);
  /** Kills a worker with SIGKILL once it runs a fix, and starts another in its place. */
  const killWhileRunning = async (worker: RunningApp) => {
    await waitFor('the worker to run a fix', () => (runningFixes(worker) > 0 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    const cut = runningFixes(worker);
    await worker.stop('SIGKILL');
    workers.splice(workers.indexOf(worker), 1);
    return { cut, replacement: await startWorker() };
  };
  return {
    sandboxRoot,
    workers,
    everyWorker,
    ready,
    submit,
    settled,
    finishedFixes,
    killWhileRunning,
    post: () =>
      fetch(`${baseUrl}/v1/fix-jobs`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ repo: { url: '/nonexistent' }, command: 'true' }),
      }),
  };
}

/** Fixes a worker started and has not finished (it may have been handed back, but not while alive). */
function runningFixes(worker: RunningApp): number {
  const output = worker.output();
  const count = (text: string) => output.split(text).length - 1;
  return count('"sandbox created"') - count('"fix finished"');
}

function expectOutcomes(jobs: Submitted[], views: JobView[]) {
  for (const [index, job] of jobs.entries()) {
    const view = views[index]!;
    expect({ id: job.id, kind: job.kind, status: view.status, reason: view.reason }).toEqual({
      id: job.id,
      kind: job.kind,
      status: GO_FIXTURES[job.kind].outcome,
      reason: expect.any(String),
    });
    if (job.kind === 'formatter') expect(view.patch).toContain('calc.go');
  }
}

/**
 * A fix may run more than once (delivery is at least once), but every run of a job that got to its end
 * gave the job's one answer; returns how many runs got to their end, per job.
 */
function expectOneAnswer(jobs: Submitted[], finishedFixes: (id: string) => string[]): number[] {
  return jobs.map((job) => {
    const outcomes = finishedFixes(job.id);
    expect({ id: job.id, outcomes: [...new Set(outcomes)] }).toEqual({
      id: job.id,
      outcomes: [GO_FIXTURES[job.kind].outcome],
    });
    return outcomes.length;
  });
}

it('ends every accepted job in its expected status, with one answer, through worker and Redis kills', async () => {
  const started = performance.now();
  const redis = await startTestRedis({ appendOnly: true });
  servers.push(redis);
  const drill = await deployment(redis, SHORT);
  const jobs: Submitted[] = [];
  const batch = async (size: number, prefix: string) => {
    for (let i = 0; i < size; i++) jobs.push(await drill.submit(KINDS[jobs.length % KINDS.length]!, prefix));
  };
  let cutFixes = 0;
  const kill = async (index: number) => {
    const { cut } = await drill.killWhileRunning(drill.workers[index]!);
    cutFixes += cut;
  };

  // Two worker kills while the first batch runs.
  await batch(6, 'sleep 2; ');
  await kill(0);
  await kill(0);
  // Redis killed while the second batch runs; the API refuses new jobs meanwhile and loses none it took.
  await batch(6, 'sleep 2; ');
  await waitFor('fixes to run', () =>
    drill.workers.some((worker) => runningFixes(worker) > 0) ? true : undefined,
  );
  await redis.kill();
  const whileDown = await drill.post();
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  await redis.restart();
  await drill.ready();
  // Two more worker kills while the third batch runs, after the restart.
  await batch(6, 'sleep 2; ');
  await kill(0);
  await kill(0);

  const views = await drill.settled(jobs, 150_000);
  expect(whileDown.status).toBe(503);
  expectOutcomes(jobs, views);
  const fixes = expectOneAnswer(jobs, drill.finishedFixes);
  await waitFor('every sandbox to be gone', () =>
    localSandboxDirs(drill.sandboxRoot).length === 0 ? true : undefined,
  );
  const outcomes = Object.groupBy(views, (view) => view.status);
  console.log(
    `drill: ${jobs.length} jobs, 4 worker SIGKILLs cutting ${cutFixes} running fixes, 1 Redis SIGKILL + AOF restart; outcomes ${Object.entries(
      outcomes,
    )
      .map(([status, list]) => `${status} ${list!.length}`)
      .join(
        ', ',
      )}; attempts ${views.reduce((sum, view) => sum + view.attempts, 0)}; fixes run to the end twice: ${fixes.filter((count) => count > 1).length}; ${Math.round((performance.now() - started) / 1000)} s`,
  );
});

it('reaps no running sandbox during a Redis outage longer than the heartbeat TTL, and finishes every job', async () => {
  const started = performance.now();
  const redis = await startTestRedis();
  servers.push(redis);
  const drill = await deployment(redis, SHORT);
  const jobs: Submitted[] = [];
  // Long enough that every fix is still running when Redis comes back.
  for (const kind of ['formatter', 'logic', 'formatter', 'logic'] as const)
    jobs.push(await drill.submit(kind, 'sleep 8; '));
  await waitFor('all four fixes to run', () =>
    localSandboxDirs(drill.sandboxRoot).length === 4 ? true : undefined,
  );
  const outageMs = 3 * Number(SHORT.WORKER_HEARTBEAT_TTL_MS);
  redis.pause();
  await new Promise((resolve) => setTimeout(resolve, outageMs));
  redis.resume();

  const views = await drill.settled(jobs, 90_000);
  expectOutcomes(jobs, views);
  const output = drill.everyWorker.map((worker) => worker.output()).join('\n');
  expect(output).not.toContain('reaped sandboxes of dead workers');
  expect(output).not.toContain('"fault":"sandbox-gone"');
  expect(output).toContain('reaping paused until this worker has been connected to Redis');
  await waitFor('every sandbox to be gone', () =>
    localSandboxDirs(drill.sandboxRoot).length === 0 ? true : undefined,
  );
  const fixes = expectOneAnswer(jobs, drill.finishedFixes);
  console.log(
    `outage: ${jobs.length} jobs, Redis stopped ${outageMs / 1000} s (heartbeat TTL ${Number(SHORT.WORKER_HEARTBEAT_TTL_MS) / 1000} s); reaped 0; outcomes ${views.map((view) => view.status).join(', ')}; attempts ${views.reduce((sum, view) => sum + view.attempts, 0)}; fixes run to the end twice: ${fixes.filter((count) => count > 1).length}; ${Math.round((performance.now() - started) / 1000)} s`,
  );
});

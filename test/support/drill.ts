/**
 * An operator's bad day (issue 15), as tests run it: the real API, two real workers (local driver) and
 * Redis, all separate processes, on Go repositories that need no registry.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { createGoRepo, GO_FIXTURES, type GoFixtureKind } from './go-repos.ts';
import { freePort, startApp, waitFor, type RunningApp } from './processes.ts';
import { startTestRedis, type TestRedis, type TestRedisOptions } from './redis.ts';
import { localSandboxDirs } from './sandboxes.ts';

const TOKEN = 'drill-token-0123456789abcdef';
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const KINDS: GoFixtureKind[] = ['formatter', 'clean', 'logic'];
// Short leases, as in the drill of the issue: a dead worker's jobs move on within seconds.
export const SHORT = { WORKER_LOCK_DURATION_MS: '4000', WORKER_HEARTBEAT_TTL_MS: '2000' };

let running: RunningApp[] = [];
let servers: TestRedis[] = [];

/** Stops every process and Redis a drill started; for afterEach, so no test's worker takes the next's jobs. */
export async function stopDrills(): Promise<void> {
  await Promise.all(running.map((app) => app.stop()));
  running = [];
  await Promise.all(servers.map((server) => server.stop()));
  servers = [];
}

/** A private Redis for one drill, stopped by stopDrills. */
export async function drillRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const server = await startTestRedis(options);
  servers.push(server);
  return server;
}

export interface JobView {
  id: string;
  status: string;
  stage: string | null;
  attempts: number;
  reason: string | null;
  patch: string | null;
}

export interface Submitted {
  id: string;
  kind: GoFixtureKind;
}

/** One deployment: an API and workers on one Redis, sharing a sandbox root and a dependency cache. */
export async function deployment(redis: TestRedis, settings: Record<string, string>) {
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
export function runningFixes(worker: RunningApp): number {
  const output = worker.output();
  const count = (text: string) => output.split(text).length - 1;
  return count('"sandbox created"') - count('"fix finished"');
}

export function expectOutcomes(jobs: Submitted[], views: JobView[]) {
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
export function expectOneAnswer(jobs: Submitted[], finishedFixes: (id: string) => string[]): number[] {
  return jobs.map((job) => {
    const outcomes = finishedFixes(job.id);
    expect({ id: job.id, outcomes: [...new Set(outcomes)] }).toEqual({
      id: job.id,
      outcomes: [GO_FIXTURES[job.kind].outcome],
    });
    return outcomes.length;
  });
}

/** How hard a drill goes: jobs per batch and worker kills per wave, under which worker settings. */
export interface Drill {
  name: string;
  settings: Record<string, string>;
  batch: number;
  killsPerWave: number;
}

/**
 * The drill of issue 15: three batches of distinct jobs of each kind; a wave of worker SIGKILLs (each
 * while the worker runs a fix, a replacement started at once) during the first and the third batch, and
 * Redis SIGKILLed during the second and restarted from its append-only file.
 */

export async function runDrill({ name, settings, batch: size, killsPerWave }: Drill): Promise<void> {
  const started = performance.now();
  const redis = await drillRedis({ appendOnly: true });
  const drill = await deployment(redis, settings);
  const jobs: Submitted[] = [];
  const batch = async () => {
    for (let i = 0; i < size; i++)
      jobs.push(await drill.submit(KINDS[jobs.length % KINDS.length]!, 'sleep 2; '));
  };
  let kills = 0;
  let cutFixes = 0;
  const wave = async () => {
    for (let i = 0; i < killsPerWave; i++) {
      cutFixes += (await drill.killWhileRunning(drill.workers[0]!)).cut;
      kills++;
    }
  };

  // Worker kills while the first batch runs.
  await batch();
  await wave();
  // Redis killed while the second batch runs; the API refuses new jobs meanwhile and loses none it took.
  await batch();
  await waitFor('fixes to run', () =>
    drill.workers.some((worker) => runningFixes(worker) > 0) ? true : undefined,
  );
  await redis.kill();
  const whileDown = await drill.post();
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  await redis.restart();
  await drill.ready();
  // More worker kills while the third batch runs, after the restart.
  await batch();
  await wave();

  const views = await drill.settled(jobs, 150_000);
  expect(whileDown.status).toBe(503);
  expectOutcomes(jobs, views);
  const fixes = expectOneAnswer(jobs, drill.finishedFixes);
  await waitFor('every sandbox to be gone', () =>
    localSandboxDirs(drill.sandboxRoot).length === 0 ? true : undefined,
  );
  const outcomes = Object.entries(Object.groupBy(views, (view) => view.status))
    .map(([status, list]) => `${status} ${list!.length}`)
    .join(', ');
  const facts = [
    `${jobs.length} jobs`,
    `${kills} worker SIGKILLs cutting ${cutFixes} running fixes`,
    '1 Redis SIGKILL + AOF restart',
    `outcomes ${outcomes}`,
    `attempts ${views.reduce((sum, view) => sum + view.attempts, 0)}`,
    `fixes run to the end twice: ${fixes.filter((count) => count > 1).length}`,
    `${Math.round((performance.now() - started) / 1000)} s`,
  ];
  console.log(`drill (${name}): ${facts.join('; ')}`);
}

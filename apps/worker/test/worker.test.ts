import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '@ci-fixer/config';
import { type FixJobData, type FixResult, type JobProgress } from '@ci-fixer/contract';
import { QUEUE_NAME, QUEUE_PREFIX, fixJobOptions, requestCancellation } from '@ci-fixer/queue';
import {
  createFixtureRepo,
  FIXTURES,
  fixtureGit,
  type FixtureKind,
} from '../../../test/support/fixture-repos.ts';
import { captureLogger } from '../../../test/support/logger.ts';
import { waitFor } from '../../../test/support/processes.ts';
import { localSandboxDirs } from '../../../test/support/sandboxes.ts';
import { startTestRedis, type TestRedis } from '../../../test/support/redis.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';

let config: Config;
let events: QueueEvents;
let queue: Queue<FixJobData>;
let redis: Redis;
let server: TestRedis;
let sandboxRoot: string;
const repos = mkdtempSync(path.join(os.tmpdir(), 'cif-worker-repos-'));

beforeAll(async () => {
  server = await startTestRedis();
  const url = server.url;
  sandboxRoot = mkdtempSync(path.join(os.tmpdir(), 'cif-worker-sandboxes-'));
  config = loadConfig({
    REDIS_URL: url,
    CI_FIXER_ALLOW_FILE_REPOS: 'true',
    SANDBOX_LOCAL_ROOT: sandboxRoot,
    JOB_ATTEMPTS: '2',
    JOB_BACKOFF_MS: '10',
    JOB_RETENTION_COUNT: '2',
    WORKER_CONCURRENCY: '2',
    WORKER_SHUTDOWN_GRACE_SECONDS: '0',
    WORKER_HEARTBEAT_TTL_MS: '2000',
  });
  redis = new Redis(url);
  events = new QueueEvents(QUEUE_NAME, { connection: { url }, prefix: QUEUE_PREFIX });
  await events.waitUntilReady();
  queue = new Queue<FixJobData>(QUEUE_NAME, {
    connection: redis,
    prefix: QUEUE_PREFIX,
    defaultJobOptions: fixJobOptions({
      attempts: 2,
      backoffMs: 10,
      retentionCount: 2,
      retentionSeconds: 3600,
    }),
  });
});
afterAll(async () => {
  await events?.close();
  await queue?.close();
  redis?.disconnect();
  await server?.stop();
});

let counter = 0;
function submit(repoUrl: string, command: string): Promise<Job<FixJobData>> {
  counter += 1;
  return queue.add(
    'fix',
    { request: { repo: { url: repoUrl }, command }, submittedAt: new Date().toISOString() },
    { jobId: `t-${counter}` },
  );
}

function fixture(kind: FixtureKind) {
  return createFixtureRepo(kind, mkdtempSync(path.join(repos, `${kind}-`)));
}

async function finished(job: Job<FixJobData>, timeoutMs = 90_000): Promise<Job<FixJobData>> {
  return waitFor(
    `job ${job.id} to finish`,
    async () => {
      const state = await queue.getJobState(job.id!);
      // Read after the state: a job read first may be the copy from before it finished (no returnvalue).
      return state === 'completed' || state === 'failed' ? (await queue.getJob(job.id!))! : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

const sandboxDirs = () => localSandboxDirs(sandboxRoot);

describe('worker', () => {
  let worker: RunningWorker;
  beforeAll(async () => {
    worker = await startWorker(config, captureLogger('worker').logger);
  });
  afterAll(async () => worker?.stop());

  it('runs a job to an outcome and publishes each stage as progress', async () => {
    const repo = fixture('passing');
    const job = await submit(repo.path, FIXTURES.passing.command);
    const stages = new Set<string>();
    const onProgress = (progress: unknown, jobId: string) => {
      if (jobId === job.id) stages.add((progress as JobProgress).stage);
    };
    events.on('progress', ({ jobId, data }) => onProgress(data, jobId));
    const done = await finished(job);
    expect(await done.getState()).toBe('completed');
    const result = done.returnvalue as FixResult;
    expect(result.outcome).toBe('not_reproducible');
    expect(result.baseSha).toBe(repo.sha);
    expect([...stages]).toContain('reproducing');
    expect(result.steps.map((step) => step.stage)).toEqual(
      expect.arrayContaining(['cloning', 'installing', 'reproducing']),
    );
  });

  it('treats unfixable as final: one attempt, completed', async () => {
    const job = await finished(await submit(fixture('failingTest').path, FIXTURES.failingTest.command));
    expect(await job.getState()).toBe('completed');
    expect((job.returnvalue as FixResult).outcome).toBe('unfixable');
    expect(job.attemptsMade).toBe(1);
  });

  it('retries platform errors with backoff, then fails with the cause', async () => {
    // The git host's storage is broken (an object of the commit is gone): its fault, not the repository's.
    const repo = fixture('passing');
    const blob = fixtureGit(repo.path, 'rev-parse', 'HEAD:package.json');
    rmSync(path.join(repo.path, '.git', 'objects', blob.slice(0, 2), blob.slice(2)));
    const job = await finished(await submit(repo.path, 'true'));
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(2);
    expect(job.failedReason).toMatch(/cannot fetch .*possible repository corruption on the remote side/s);
  });

  it('fails a job whose repository does not exist at once, without retrying', async () => {
    const job = await finished(await submit(path.join(repos, 'does-not-exist'), 'true'));
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(
      /^repository not found: check the URL and the credentials \(.*does-not-exist/,
    );
  });

  it('cancels a running job: the command stops and its sandbox is destroyed', async () => {
    const repo = fixture('passing');
    const job = await submit(repo.path, 'sleep 120');
    await waitFor('the sleep to start', async () => {
      const progress = (await queue.getJob(job.id!))!.progress as unknown as JobProgress | number;
      return typeof progress === 'object' && progress.stage === 'reproducing' ? true : undefined;
    });
    await requestCancellation(redis, job.id!, 60);
    const ended = await finished(job, 20_000);
    expect(await ended.getState()).toBe('failed');
    expect(ended.failedReason).toBe('cancelled');
    expect(ended.attemptsMade).toBe(1);
    await waitFor('the sandbox to go', () => (sandboxDirs().length === 0 ? true : undefined), {
      timeoutMs: 5000,
    });
  });

  it('keeps only as many finished jobs as the retention allows', async () => {
    const repo = fixture('passing');
    for (const command of ['true', 'exit 0', 'echo fine']) await finished(await submit(repo.path, command));
    expect(await queue.getJobCountByTypes('completed')).toBe(2);
  });
});

describe('shutdown', () => {
  it('hands a running job back to the queue when the grace period ends, and destroys its sandbox', async () => {
    const worker = await startWorker(config, captureLogger('worker').logger);
    const job = await submit(fixture('passing').path, 'sleep 120');
    await waitFor('the job to run', async () =>
      (await (await queue.getJob(job.id!))!.getState()) === 'active' ? true : undefined,
    );
    await waitFor('its sandbox', () => (sandboxDirs().length > 0 ? true : undefined));
    await worker.stop();
    const after = (await queue.getJob(job.id!))!;
    expect(await after.getState()).toBe('waiting');
    expect(after.attemptsMade).toBe(0);
    expect(sandboxDirs()).toEqual([]);
    await after.remove();
  });
});

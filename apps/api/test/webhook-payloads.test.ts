import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { QUEUE_PREFIX } from '@ci-fixer/queue';
import { freePort, waitFor } from '../../../test/support/processes.ts';
import {
  API_TOKEN,
  GITHUB_SECRET,
  GITLAB_TOKEN,
  failedWorkflowRun,
  gitlabPipeline,
  postGitHub,
  postGitLab,
  readJson,
  type Json,
  startApi,
} from './webhooks-harness.ts';

/**
 * The attacks of issue 10 on the webhook receivers and the URL check, against the real API on loopback with a
 * real Redis: a private redis-server this file starts on a free port and stops at the end, so flushing it
 * between tests touches nothing else. Payloads are real examples (@octokit/webhooks-examples, GitLab's docs),
 * signed, with one field broken each.
 */
let redisServer: ChildProcess;
let redisDir: string;
let redisUrl: string;
let api: Awaited<ReturnType<typeof startApi>>;

beforeAll(async () => {
  const port = await freePort();
  redisDir = mkdtempSync(path.join(tmpdir(), 'ci-fixer-webhook-payloads-'));
  redisServer = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir],
    { stdio: 'ignore' },
  );
  redisUrl = `redis://127.0.0.1:${port}/0`;
  await waitFor('the private redis-server', async () => {
    const probe = new Redis(redisUrl, {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      lazyConnect: true,
    });
    probe.on('error', () => {}); // refused until the server listens; the probe retries
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG' ? true : undefined;
    } finally {
      probe.disconnect();
    }
  });
  api = await startApi(
    {
      GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
      GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN,
      FORGE_MAX_ATTEMPTS_PER_CHANGE: '3',
    },
    redisUrl,
  );
});

afterAll(async () => {
  await api?.close();
  if (redisServer && redisServer.exitCode === null) {
    const exited = new Promise((resolve) => redisServer.once('exit', resolve));
    redisServer.kill('SIGTERM');
    await exited;
  }
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
});

// Our own server: flushing it between tests is safe.
beforeEach(() => api.redis.flushdb());

/** Every job in the queue, whatever its state. */
async function jobCount(): Promise<number> {
  const counts = await api.queue.getJobCounts();
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

const loopGuard = (subject: string) =>
  api.redis.get(`${QUEUE_PREFIX}:loop-guard:github:octo-org/octo-repo:${subject}`);

/** A deep `set` on a copy of the payload. */
function broken(base: () => Json, field: string, value: unknown): Json {
  const payload = base();
  const keys = field.split('.');
  let node = payload;
  for (const key of keys.slice(0, -1)) node = node[key];
  const last = keys.at(-1)!;
  if (value === undefined) Reflect.deleteProperty(node, last);
  else node[last] = value;
  return payload;
}

describe('GitHub: a signed but malformed workflow_run gets 422 and enqueues nothing', () => {
  it('a well-formed one is queued (the control for the table below)', async () => {
    const response = await postGitHub(api.url, 'workflow_run', failedWorkflowRun());
    expect(response.status).toBe(202);
    expect(await jobCount()).toBe(1);
  });

  it.each([
    ['workflow_run.head_sha', 12345, /head_sha/],
    ['workflow_run.head_sha', '--output=/tmp/x', /head_sha: must be a 40-character hexadecimal/],
    ['workflow_run.head_sha', '3484a3fb', /head_sha/],
    ['workflow_run.head_sha', 'z'.repeat(40), /head_sha/],
    ['workflow_run.head_sha', undefined, /head_sha/],
    ['workflow_run.run_attempt', 0, /run_attempt/],
    ['workflow_run.run_attempt', -1, /run_attempt/],
    ['workflow_run.run_attempt', 1.5, /run_attempt/],
    ['workflow_run.run_attempt', { n: 1 }, /run_attempt/],
    ['workflow_run.run_attempt', '1:2', /run_attempt/],
    ['workflow_run.run_attempt', '1', /run_attempt/],
    ['workflow_run.id', '289782451', /workflow_run.id/],
    ['workflow_run.id', 0, /workflow_run.id/],
    ['workflow_run.id', 2 ** 60, /workflow_run.id/],
    ['repository.clone_url', true, /clone_url/],
    ['repository.clone_url', 'https://github.com/octo-org/octo-repo.git\n--upload-pack=id', /clone_url/],
    ['repository.full_name', 'octo-org/octo-repo/../x', /full_name/],
    ['repository.full_name', '-x/octo-repo', /full_name/],
    ['repository.full_name', ['octo-org'], /full_name/],
    ['workflow_run.head_branch', '--upload-pack=id', /head_branch/],
    ['workflow_run.head_branch', 'a..b', /head_branch/],
    ['workflow_run.head_branch', 'main\nx', /head_branch/],
    ['workflow_run.head_branch', 7, /head_branch/],
    ['workflow_run.pull_requests', [{ number: '2' }], /pull_requests/],
    ['workflow_run.head_repository', { full_name: 1 }, /head_repository/],
    ['installation', { id: 'x' }, /installation/],
    ['workflow_run.conclusion', { x: 1 }, /conclusion/],
    ['action', 5, /action/],
    ['workflow_run', 'x', /workflow_run/],
  ])('%s = %j', async (field, value, detail) => {
    const before = await jobCount();
    const response = await postGitHub(api.url, 'workflow_run', broken(failedWorkflowRun, field, value));
    expect(response.status).toBe(422);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect((await readJson(response)).detail).toMatch(detail);
    expect(await jobCount()).toBe(before);
    // Refused before admission: no attempt counted against the pull request.
    expect(await loopGuard('change:2')).toBeNull();
  });
});

describe('GitHub: well-formed variations are still queued', () => {
  it('a payload without run_attempt (older GitHub Enterprise Server) is attempt 1', async () => {
    const response = await postGitHub(
      api.url,
      'workflow_run',
      broken(failedWorkflowRun, 'workflow_run.run_attempt', undefined),
    );
    expect(response.status).toBe(202);
    expect(await readJson(response)).toMatchObject({ jobId: expect.stringMatching(/-1$/) });
  });

  it('an Enterprise Managed User owner and a null installation', async () => {
    const payload = failedWorkflowRun();
    payload.repository.full_name = 'octocat_acme/octo-repo';
    payload.workflow_run.head_repository.full_name = 'octocat_acme/octo-repo';
    payload.installation = null;
    const response = await postGitHub(api.url, 'workflow_run', payload);
    expect(response.status).toBe(202);
  });
});

describe('GitLab: a malformed Pipeline Hook is ignored with 2xx (GitLab disables hooks on 4xx)', () => {
  it.each([
    ['object_attributes.sha', 'not-a-sha', /object_attributes.sha/],
    ['object_attributes.sha', 12345, /object_attributes.sha/],
    ['object_attributes.id', 0, /object_attributes.id/],
    ['object_attributes.id', '31', /object_attributes.id/],
    ['object_attributes.ref', '--upload-pack=id', /object_attributes.ref/],
    ['object_attributes.status', { failed: true }, /object_attributes.status/],
    ['project.id', -1, /project.id/],
    ['project.path_with_namespace', '../../etc', /path_with_namespace/],
    ['project.path_with_namespace', 'gitlab-org', /path_with_namespace/],
    ['project.path_with_namespace', 'group/repo.git', /path_with_namespace/],
    ['project.git_http_url', false, /git_http_url/],
    ['merge_request.iid', '1', /merge_request.iid/],
    ['merge_request.source_branch', 'x y', /source_branch/],
  ])('%s = %j', async (field, value, detail) => {
    const before = await jobCount();
    const response = await postGitLab(
      api.url,
      broken(() => gitlabPipeline('failed'), field, value),
    );
    expect(response.status).toBe(200);
    const answer = await readJson(response);
    expect(answer.status).toBe('ignored');
    expect(answer.reason).toMatch(/the pipeline payload is malformed/);
    expect(answer.reason).toMatch(detail);
    expect(await jobCount()).toBe(before);
  });

  it('a well-formed one is queued, and a replay of the same pipeline under a fresh event id is a duplicate', async () => {
    const first = await postGitLab(api.url, gitlabPipeline('failed'));
    expect(first.status).toBe(202);
    const replay = await postGitLab(api.url, gitlabPipeline('failed'));
    expect(replay.status).toBe(200);
    expect(await readJson(replay)).toMatchObject({ status: 'duplicate' });
    expect(await jobCount()).toBe(1);
    expect(await api.redis.get(`${QUEUE_PREFIX}:loop-guard:gitlab:gitlab-org/gitlab-test:change:1`)).toBe(
      '1',
    );
  });
});

describe('replays under fresh X-GitHub-Delivery ids', () => {
  it('are duplicates, count nothing, and leave the next real attempt free to run', async () => {
    const payload = failedWorkflowRun();
    expect((await postGitHub(api.url, 'workflow_run', payload)).status).toBe(202);
    for (let replay = 0; replay < 3; replay++) {
      const response = await postGitHub(api.url, 'workflow_run', payload);
      expect(response.status).toBe(200);
      expect(await readJson(response)).toMatchObject({ status: 'duplicate' });
    }
    expect(await loopGuard('change:2')).toBe('1');

    // The branch is not blocked: GitHub's re-run of the workflow (attempt 2) still gets a fix.
    const rerun = failedWorkflowRun();
    rerun.workflow_run.run_attempt = 2;
    const response = await postGitHub(api.url, 'workflow_run', rerun);
    expect(response.status).toBe(202);
    expect(await readJson(response)).toMatchObject({
      status: 'queued',
      jobId: `gh-${rerun.workflow_run.id}-2`,
    });
    expect(await loopGuard('change:2')).toBe('2');
    expect(await jobCount()).toBe(2);
  });

  it('are duplicates while the job is kept, even after the run id was forgotten, and count nothing', async () => {
    const payload = failedWorkflowRun();
    expect((await postGitHub(api.url, 'workflow_run', payload)).status).toBe(202);
    // As after WEBHOOK_DEDUPE_TTL_SECONDS: the run marker is gone, the finished job is still retained.
    const runKeys = await api.redis.keys(`${QUEUE_PREFIX}:webhook-run:*`);
    expect(runKeys).toHaveLength(1);
    await api.redis.del(...runKeys);

    const replay = await postGitHub(api.url, 'workflow_run', payload);
    expect(await readJson(replay)).toMatchObject({ status: 'duplicate' });
    expect(await loopGuard('change:2')).toBe('1');
  });

  it('the loop guard counts only jobs it created: a refused attempt does not count', async () => {
    const statuses: unknown[] = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      const payload = failedWorkflowRun();
      payload.workflow_run.run_attempt = attempt;
      const response = await postGitHub(api.url, 'workflow_run', payload);
      statuses.push([response.status, (await readJson(response)).status]);
    }
    expect(statuses).toEqual([
      [202, 'queued'],
      [202, 'queued'],
      [202, 'queued'],
      [200, 'ignored'],
      [200, 'ignored'],
    ]);
    expect(await loopGuard('change:2')).toBe('3');
    expect(await jobCount()).toBe(3);
  });
});

describe('POST /v1/fix-jobs: repository URLs', () => {
  const submit = (url: string) =>
    fetch(`${api.url}/v1/fix-jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ repo: { url }, command: 'npm test' }),
    });

  it.each([
    ['https://github.com\\@127.0.0.1:9419/acme/app', /backslash/],
    ['https://github.com:9419/acme/app', /port 9419 on github.com is not allowed/],
    ['https://github.com/acme/app\nfoo', /control character/],
    ['https://github.com/acme/app foo', /whitespace/],
  ])('refuses %j with 422 and enqueues nothing', async (url, detail) => {
    const before = await jobCount();
    const response = await submit(url);
    expect(response.status).toBe(422);
    expect((await readJson(response)).detail).toMatch(detail);
    expect(await jobCount()).toBe(before);
  });

  it('queues the normalised URL, which is what the worker hands git', async () => {
    const response = await submit('HTTPS://GitHub.com:443/acme/app');
    expect(response.status).toBe(202);
    const { id } = await readJson(response);
    const job = await api.queue.getJob(id);
    expect(job!.data.request.repo.url).toBe('https://github.com/acme/app');
  });
});

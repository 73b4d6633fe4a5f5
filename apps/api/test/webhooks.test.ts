import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { COMMAND_FROM_SOURCE } from '@ci-fixer/contract';
import { verifyGitHubSignature } from '../src/webhooks/github.ts';
import {
  API_TOKEN,
  GITHUB_SECRET,
  GITLAB_TOKEN,
  failedWorkflowRun,
  githubExample,
  gitlabPipeline,
  postGitHub,
  postGitLab,
  readJson,
  type Json,
  signGitHub,
  startApi,
} from './webhooks-harness.ts';
import { startTestRedis, type TestRedis } from '../../../test/support/redis.ts';

// Real Redis (a private server for this file); real payloads from @octokit/webhooks-examples and GitLab's
// documentation.
let redis: TestRedis;
let REDIS_URL: string;

const ENABLED = {
  GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
  GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN,
  FORGE_MAX_ATTEMPTS_PER_CHANGE: '2',
  WEBHOOK_MAX_BODY_BYTES: '65536',
};

let api: Awaited<ReturnType<typeof startApi>>;

beforeAll(async () => {
  redis = await startTestRedis();
  REDIS_URL = redis.url;
  api = await startApi(ENABLED, REDIS_URL);
});
afterAll(async () => {
  await api?.close();
  await redis?.stop();
});
// The server is this file's own, so emptying it between tests touches nothing else.
beforeEach(() => api.redis.flushdb());

const jobCount = () => api.queue.count();

describe('GitHub signature', () => {
  it('matches the documented test vector and rejects anything else', () => {
    const good = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(verifyGitHubSignature(GITHUB_SECRET, Buffer.from('Hello, World!'), good)).toBe(true);
    expect(verifyGitHubSignature(GITHUB_SECRET, Buffer.from('Hello, World?'), good)).toBe(false);
    expect(verifyGitHubSignature('other', Buffer.from('Hello, World!'), good)).toBe(false);
    expect(
      verifyGitHubSignature(GITHUB_SECRET, Buffer.from('Hello, World!'), good.replace('sha256=', 'sha1=')),
    ).toBe(false);
    expect(verifyGitHubSignature(GITHUB_SECRET, Buffer.from('Hello, World!'), 'sha256=abc')).toBe(false);
  });
});

describe('POST /webhooks/github', () => {
  it('queues a fix job for a failed workflow run, mapped from the real payload', async () => {
    const payload = failedWorkflowRun();
    const response = await postGitHub(api.url, 'workflow_run', payload);
    expect(response.status).toBe(202);
    const answer = await readJson(response);
    expect(answer).toMatchObject({ status: 'queued', jobId: `gh-${payload.workflow_run.id}-1` });

    const job = await api.queue.getJob(answer.jobId);
    expect(job!.data.request).toEqual({
      repo: { url: payload.repository.clone_url, sha: payload.workflow_run.head_sha },
      command: COMMAND_FROM_SOURCE,
    });
    expect(job!.data.source).toMatchObject({
      forge: 'github',
      repo: 'octo-org/octo-repo',
      fork: false,
      headSha: '3484a3fb816e0859fd6e1cea078d76385ff50625',
      headBranch: 'master',
      changeRequests: [2],
      runId: 289782451,
      runAttempt: 1,
      workflowPath: '.github/workflows/test.yml',
      runUrl: 'https://github.com/octo-org/octo-repo/actions/runs/289782451',
    });
  });

  it('treats timed_out like failure', async () => {
    const payload = failedWorkflowRun();
    payload.workflow_run.conclusion = 'timed_out';
    expect((await postGitHub(api.url, 'workflow_run', payload)).status).toBe(202);
  });

  it('deduplicates a redelivery on X-GitHub-Delivery, and a second delivery of the same run on the job id', async () => {
    const payload = failedWorkflowRun();
    const first = await postGitHub(api.url, 'workflow_run', payload, { delivery: 'delivery-1' });
    expect(first.status).toBe(202);
    const again = await postGitHub(api.url, 'workflow_run', payload, { delivery: 'delivery-1' });
    expect(again.status).toBe(200);
    expect(await readJson(again)).toMatchObject({ status: 'duplicate' });
    // A second delivery of the same run and attempt is a duplicate too (run id + attempt, before the loop guard).
    const other = await postGitHub(api.url, 'workflow_run', payload, { delivery: 'delivery-2' });
    expect(other.status).toBe(200);
    expect(await readJson(other)).toMatchObject({ status: 'duplicate' });
    expect(await jobCount()).toBe(1);
  });

  it('answers ping with pong and enqueues nothing', async () => {
    const ping = githubExample('ping', () => true);
    const response = await postGitHub(api.url, 'ping', ping);
    expect(response.status).toBe(200);
    expect(await readJson(response)).toEqual({ status: 'pong' });
    expect(await jobCount()).toBe(0);
  });

  it.each([
    [
      'a successful run',
      'workflow_run',
      (p: Json) => p.action === 'completed' && p.workflow_run.conclusion === 'success',
      /concluded success/,
    ],
    ['a requested run', 'workflow_run', (p: Json) => p.action === 'requested', /action requested is ignored/],
    ['a check_run event', 'check_run', () => true, /check_run is ignored/],
    ['a push event', 'push', () => true, /push is ignored/],
  ])('ignores %s with a 2xx and a reason', async (_name, event, pick, reason) => {
    const response = await postGitHub(api.url, event, githubExample(event, pick));
    expect(response.status).toBe(200);
    const answer = await readJson(response);
    expect(answer.status).toBe('ignored');
    expect(answer.reason).toMatch(reason);
    expect(await jobCount()).toBe(0);
  });

  it('ignores forks, ci-fixer branches and ci-fixer commits', async () => {
    const fork = failedWorkflowRun();
    fork.workflow_run.head_repository.full_name = 'someone/octo-repo';
    const branch = failedWorkflowRun();
    branch.workflow_run.head_branch = 'ci-fixer/3484a3fb-289782451';
    const commit = failedWorkflowRun();
    commit.workflow_run.head_commit.message = 'Fix formatting\n\nFixed-by: ci-fixer';
    const reasons = [];
    for (const payload of [fork, branch, commit]) {
      const response = await postGitHub(api.url, 'workflow_run', payload);
      expect(response.status).toBe(200);
      reasons.push((await readJson(response)).reason);
    }
    expect(reasons[0]).toMatch(/fork someone\/octo-repo.*FORGE_ALLOW_FORKS/);
    expect(reasons[1]).toMatch(/ci-fixer branch/);
    expect(reasons[2]).toMatch(/made by ci-fixer/);
    expect(await jobCount()).toBe(0);
  });

  it('stops after FORGE_MAX_ATTEMPTS_PER_CHANGE fix jobs for one pull request (loop guard)', async () => {
    const statuses = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const payload = failedWorkflowRun();
      payload.workflow_run.run_attempt = attempt;
      const response = await postGitHub(api.url, 'workflow_run', payload);
      statuses.push([response.status, (await readJson(response)).status]);
    }
    expect(statuses).toEqual([
      [202, 'queued'],
      [202, 'queued'],
      [200, 'ignored'],
    ]);
    expect(await jobCount()).toBe(2);
  });

  describe('rejects bad input with a 4xx and enqueues nothing', () => {
    const body = JSON.stringify(failedWorkflowRun());
    it.each([
      [
        'a wrong signature',
        { 'x-hub-signature-256': signGitHub(body, 'wrong secret') },
        body,
        401,
        /does not match/,
      ],
      ['a malformed signature', { 'x-hub-signature-256': 'sha256=zz' }, body, 401, /does not match/],
      ['no signature', { 'x-hub-signature-256': '' }, body, 401, /missing/],
      [
        'a form-encoded body',
        { 'content-type': 'application/x-www-form-urlencoded' },
        body,
        415,
        /application\/json/,
      ],
      ['no X-GitHub-Event', { 'x-github-event': '' }, body, 400, /x-github-event/],
      ['no X-GitHub-Delivery', { 'x-github-delivery': '' }, body, 400, /x-github-delivery/],
      ['malformed JSON', {}, '{"action": "completed",', 400, /not valid JSON/],
      ['a JSON array', {}, '[]', 400, /JSON object/],
    ])('%s', async (_name, headers, sent, status, detail) => {
      const signed =
        'x-hub-signature-256' in headers ? headers : { ...headers, 'x-hub-signature-256': signGitHub(sent) };
      const response = await fetch(`${api.url}/webhooks/github`, {
        method: 'POST',
        headers: Object.fromEntries(
          Object.entries({
            'content-type': 'application/json',
            'x-github-event': 'workflow_run',
            'x-github-delivery': 'bad-input',
            ...signed,
          }).filter(([, value]) => value !== ''),
        ),
        body: sent,
      });
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect((await readJson(response)).detail).toMatch(detail);
      expect(await jobCount()).toBe(0);
    });

    it('an oversized body', async () => {
      const payload = failedWorkflowRun();
      payload.padding = 'x'.repeat(70_000);
      const response = await postGitHub(api.url, 'workflow_run', payload);
      expect(response.status).toBe(413);
      expect(await jobCount()).toBe(0);
    });
  });
});

describe('POST /webhooks/gitlab', () => {
  it('queues a fix job for a failed pipeline, mapped from the documented payload', async () => {
    const response = await postGitLab(api.url, gitlabPipeline('failed'));
    expect(response.status).toBe(202);
    const answer = await readJson(response);
    expect(answer).toEqual({ status: 'queued', jobId: 'gl-31-1' });
    const job = await api.queue.getJob('gl-31-1');
    expect(job!.data.request.repo).toEqual({
      url: 'https://gitlab.com/gitlab-org/gitlab-test.git',
      sha: 'bcbb5ec396a2c0f828686f14fac9b80b780504f2',
    });
    expect(job!.data.source).toMatchObject({
      forge: 'gitlab',
      repo: 'gitlab-org/gitlab-test',
      projectId: 1,
      fork: false,
      headBranch: 'test',
      changeRequests: [1],
      runId: 31,
      workflowPath: '.gitlab-ci.yml',
    });
  });

  it('deduplicates on Idempotency-Key, then on X-Gitlab-Event-UUID', async () => {
    const payload = gitlabPipeline('failed');
    expect((await postGitLab(api.url, payload, { headers: { 'idempotency-key': 'k1' } })).status).toBe(202);
    const again = await postGitLab(api.url, payload, { headers: { 'idempotency-key': 'k1' } });
    expect(await readJson(again)).toMatchObject({ status: 'duplicate' });
    payload.object_attributes.id = 32;
    expect((await postGitLab(api.url, payload, { uuid: 'u1' })).status).toBe(202);
    expect((await readJson(await postGitLab(api.url, payload, { uuid: 'u1' }))).status).toBe('duplicate');
    expect(await jobCount()).toBe(2);
  });

  it('answers 2xx to what it ignores, so that GitLab keeps the hook', async () => {
    const passed = await postGitLab(api.url, gitlabPipeline('success'));
    expect(passed.status).toBe(200);
    expect((await readJson(passed)).reason).toMatch(/pipeline is success/);
    const push = await postGitLab(
      api.url,
      { object_kind: 'push', ref: 'refs/heads/main' },
      { event: 'Push Hook' },
    );
    expect(push.status).toBe(200);
    expect((await readJson(push)).reason).toMatch(/Push Hook is ignored/);
    expect(await jobCount()).toBe(0);
  });

  it.each([
    ['a wrong token', { 'x-gitlab-token': 'nope' }, 401],
    ['no token', { 'x-gitlab-token': '' }, 401],
    ['a wrong content type', { 'content-type': 'text/plain' }, 415],
    ['no X-Gitlab-Event', { 'x-gitlab-event': '' }, 400],
  ])('rejects %s and enqueues nothing', async (_name, headers, status) => {
    const response = await fetch(`${api.url}/webhooks/gitlab`, {
      method: 'POST',
      headers: Object.fromEntries(
        Object.entries({
          'content-type': 'application/json',
          'x-gitlab-event': 'Pipeline Hook',
          'x-gitlab-token': GITLAB_TOKEN,
          ...headers,
        }).filter(([, value]) => value !== ''),
      ),
      body: JSON.stringify(gitlabPipeline('failed')),
    });
    expect(response.status).toBe(status);
    expect(await jobCount()).toBe(0);
  });
});

describe('receivers without a secret', () => {
  let bare: Awaited<ReturnType<typeof startApi>>;
  beforeAll(async () => {
    bare = await startApi({}, REDIS_URL);
  });
  afterAll(() => bare.close());

  it('are disabled with a message that names the setting, not open', async () => {
    const github = await postGitHub(bare.url, 'workflow_run', failedWorkflowRun());
    expect(github.status).toBe(503);
    expect((await readJson(github)).detail).toMatch(/GITHUB_WEBHOOK_SECRET is not set/);
    const gitlab = await postGitLab(bare.url, gitlabPipeline('failed'));
    expect(gitlab.status).toBe(503);
    expect((await readJson(gitlab)).detail).toMatch(/GITLAB_WEBHOOK_TOKEN is not set/);
    expect(await jobCount()).toBe(0);
  });
});

describe('GET /metrics', () => {
  it('counts webhooks by source and outcome, behind the API token', async () => {
    await postGitHub(api.url, 'workflow_run', failedWorkflowRun());
    await postGitHub(api.url, 'workflow_run', failedWorkflowRun(), {
      headers: { 'x-hub-signature-256': 'sha256=00' },
    });
    expect((await fetch(`${api.url}/metrics`)).status).toBe(401);
    const response = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/ci_fixer_webhooks_total\{source="github",outcome="queued"\} [1-9]/);
    expect(text).toMatch(/ci_fixer_webhooks_total\{source="github",outcome="rejected"\} [1-9]/);
    expect(text).toMatch(/ci_fixer_queue_jobs\{state="waiting"\} 1/);
  });
});

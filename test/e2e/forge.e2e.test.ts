/**
 * Forge webhooks end to end: a signed webhook reaches the real API, a real BullMQ worker (in this process)
 * recovers the failing command from the forge, fixes it in a local sandbox and reports back. GitHub and
 * GitLab are played by the STAND-IN server in test/support/forge-standin (driven by the real Octokit and
 * ci-fixer's GitLab client); repositories are real bare git repositories; Redis is real (a private server).
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueueEvents, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '@ci-fixer/config';
import { FIX_COMMIT_TRAILER, type FixJobData, type FixResult, type JobProgress } from '@ci-fixer/contract';
import { finishedRunKey, QUEUE_NAME, QUEUE_PREFIX } from '@ci-fixer/queue';
import { createLogger } from '@ci-fixer/logger';
import { expandEgress } from '@ci-fixer/sandbox';
import { LocalDriver } from '@ci-fixer/sandbox/local';
import { createWorkerMetrics } from '../../apps/worker/src/metrics.ts';
import { FinishedRuns } from '../../apps/worker/src/finished-runs.ts';
import { createProcessor, type FixProcessor } from '../../apps/worker/src/processor.ts';
import {
  GITHUB_SECRET,
  GITLAB_TOKEN,
  failedWorkflowRun,
  gitlabPipeline,
  postGitHub,
  postGitLab,
  readJson,
  startApi,
} from '../../apps/api/test/webhooks-harness.ts';
import { ForgeStandin } from '../support/forge-standin/server.ts';
import {
  GITHUB_DEPLOY_LOG,
  GITHUB_FORMAT_LOG,
  GITLAB_FORMAT_TRACE,
  createBareRepo,
  type BareRepo,
} from '../support/forge-standin/fixtures.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

/** The request a webhook job's worker recovered: it travels in the job's progress, not its signed data. */
const recovered = (job: Job<FixJobData>) => (job.progress as JobProgress).request!;

const GITLAB_PAT = 'glpat-standin-0123456789abcdefghij';
const APP_ID = 4242;
const FORMAT_STEPS = [
  { name: 'Run actions/checkout@v4', conclusion: 'success' },
  { name: 'Run actions/setup-node@v4', conclusion: 'success' },
  { name: 'Run npm install --no-package-lock', conclusion: 'success' },
  { name: 'Check formatting', conclusion: 'failure' },
  { name: 'Post Run actions/checkout@v4', conclusion: 'success' },
];

// Sandbox runs install packages from the registry; each test may take minutes on two shared cores.
vi.setConfig({ testTimeout: 240_000 });

const standin = new ForgeStandin();
const metrics = createWorkerMetrics();
let api: Awaited<ReturnType<typeof startApi>>;
let worker: Worker<FixJobData, FixResult>;
let processor: FixProcessor;
let events: QueueEvents;
const repos: Record<string, BareRepo> = {};
let server: TestRedis;
let connection: Redis;

beforeAll(async () => {
  server = await startTestRedis();
  const REDIS_URL = server.url;
  await standin.start();

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  standin.github.appId = APP_ID;
  standin.github.appPublicKey = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  standin.gitlab.token = GITLAB_PAT;

  // The real payload names octo-org/octo-repo on branch master; more repositories exercise other modes.
  for (const [name, branch] of [
    ['octo-org/octo-repo', 'master'],
    ['octo-org/pr-mode', 'master'],
    ['octo-org/push-mode', 'master'],
    ['gitlab-org/gitlab-test', 'test'],
    ['gitlab-org/mr-mode', 'test'],
  ] as const) {
    repos[name] = createBareRepo(branch);
  }
  for (const name of ['octo-org/octo-repo', 'octo-org/pr-mode', 'octo-org/push-mode']) {
    standin.addGitHubRepo(name, repos[name]!.bare, 77);
  }
  standin.addGitLabProject(1, 'gitlab-org/gitlab-test', repos['gitlab-org/gitlab-test']!.bare);
  standin.addGitLabProject(2, 'gitlab-org/mr-mode', repos['gitlab-org/mr-mode']!.bare);

  const env = {
    GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
    GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN,
    FORGE_MAX_ATTEMPTS_PER_CHANGE: '10',
    // Fork runs are fixed here, so that the test can show they are never written to the base repository.
    FORGE_ALLOW_FORKS: 'true',
  };
  api = await startApi(env, REDIS_URL);
  events = new QueueEvents(QUEUE_NAME, { connection: { url: REDIS_URL }, prefix: QUEUE_PREFIX });
  await events.waitUntilReady();

  const config = loadConfig({
    NODE_ENV: 'test',
    REDIS_URL,
    CI_FIXER_ALLOW_FILE_REPOS: 'true',
    SANDBOX_LOCAL_ROOT: mkdtempSync(path.join(os.tmpdir(), 'cif-forge-sandboxes-')),
    GITHUB_API_URL: standin.url,
    GITHUB_APP_ID: String(APP_ID),
    GITHUB_APP_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    GITLAB_URL: standin.url,
    GITLAB_TOKEN: GITLAB_PAT,
    FORGE_REPORT_OVERRIDES:
      'octo-org/pr-mode=pull-request,octo-org/push-mode=push,gitlab-org/mr-mode=pull-request',
    FORGE_RERUN_FLAKY: 'true',
    JOB_ATTEMPTS: '1',
    // A stuck sandbox command fails its job with a reason instead of hanging the test.
    FIX_TIMEOUT_SECONDS: '180',
  });
  connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  processor = createProcessor({
    config,
    driver: new LocalDriver({
      root: config.SANDBOX_LOCAL_ROOT!,
      isolation: config.SANDBOX_ISOLATION,
    }),
    redis: connection,
    logger: createLogger({ service: 'worker-test', level: 'error' }),
    workerId: `forge-e2e-${process.pid}`,
    ownership: {},
    // The stand-in's repositories are local; installs need the registries.
    egress: await expandEgress(['registries']),
    finishedRuns: new FinishedRuns(connection, { ttlSeconds: 3600 }),
    metrics,
  });
  worker = new Worker<FixJobData, FixResult>(QUEUE_NAME, processor, {
    connection: connection.duplicate(),
    prefix: QUEUE_PREFIX,
    concurrency: 2,
  });
});

afterAll(async () => {
  await worker?.close();
  await events?.close();
  await api?.close();
  connection?.disconnect();
  await server?.stop();
  await standin.close();
}, 180_000);

async function finished(jobId: string): Promise<{ job: Job<FixJobData>; result: FixResult }> {
  const job = (await api.queue.getJob(jobId))!;
  const result = (await job.waitUntilFinished(events, 230_000).catch(async (error: Error) => {
    const latest = await api.queue.getJob(jobId);
    throw new Error(
      `job ${jobId} did not finish: ${error.message}; state ${await latest?.getState()}, progress ${JSON.stringify(latest?.progress).slice(0, 2000)}`,
    );
  })) as FixResult;
  return { job: (await api.queue.getJob(jobId))!, result };
}

function githubRun(repo: string, runId: number, attempt = 1) {
  const payload = failedWorkflowRun();
  payload.repository.full_name = repo;
  payload.repository.name = repo.split('/')[1];
  payload.workflow_run.id = runId;
  payload.workflow_run.run_attempt = attempt;
  payload.workflow_run.head_sha = repos[repo]!.sha;
  payload.workflow_run.head_repository.full_name = repo;
  return payload;
}

async function deliverGitHub(payload: Record<string, unknown>): Promise<string> {
  const response = await postGitHub(api.url, 'workflow_run', payload, { delivery: randomUUID() });
  expect(response.status).toBe(202);
  return (await readJson(response)).jobId;
}

describe('GitHub', () => {
  it('fixes a failed workflow run and comments on the pull request, updating the comment on a re-run', async () => {
    const repo = 'octo-org/octo-repo';
    standin.addGitHubRun(repo, 5001, [
      { id: 9001, name: 'Format check', conclusion: 'failure', steps: FORMAT_STEPS, log: GITHUB_FORMAT_LOG },
    ]);
    // The forge misbehaves the way GitHub does: a 502 and a secondary rate limit; both are retried.
    standin.failNext('GET', /\/actions\/runs\/5001\/jobs$/, 502);
    standin.failNext('POST', /\/issues\/2\/comments$/, 403, {
      headers: { 'retry-after': '1' },
      body: {
        message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
      },
    });

    const { job, result } = await finished(await deliverGitHub(githubRun(repo, 5001)));
    expect(result.outcome).toBe('fixed');
    expect(result.strategy).toBe('prettier-write');
    expect(recovered(job).command).toBe('set -eo pipefail\nnpx prettier --check src');
    expect(recovered(job).logs).toContain('[warn] src/index.js');
    expect(result.report).toMatchObject({ mode: 'comment', status: 'reported' });

    const comments = standin.github.comments.get('octo-org/octo-repo#2')!;
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('ci-fixer: fixed');
    expect(comments[0]!.body).toContain('Format check › Check formatting');
    expect(comments[0]!.body).toContain('```diff');
    expect(comments[0]!.body).toContain("+export const answer = { value: 42, unit: 'none' };");
    // Suggestion blocks on the pull request's lines.
    expect(standin.github.reviews[0]!.comments).toEqual([
      expect.objectContaining({
        path: 'src/index.js',
        start_line: 1,
        line: 2,
        body: expect.stringContaining('```suggestion'),
      }),
    ]);
    expect(standin.calls('GET', /\/actions\/runs\/5001\/jobs$/).map((call) => call.status)).toEqual([
      502, 200,
    ]);
    expect(standin.calls('POST', /\/issues\/2\/comments$/).map((call) => call.status)).toEqual([403, 201]);
    expect(standin.calls('GET', /\/actions\/jobs\/9001\/logs$/)[0]!.status).toBe(302);

    // No installation token may be left in the job record.
    const record = JSON.stringify({ data: job.data, result });
    for (const token of standin.github.issuedTokens) expect(record).not.toContain(token);

    const rerun = await finished(await deliverGitHub(githubRun(repo, 5001, 2)));
    expect(rerun.result.outcome).toBe('fixed');
    expect(standin.github.comments.get('octo-org/octo-repo#2')).toHaveLength(1);
    expect(standin.github.comments.get('octo-org/octo-repo#2')![0]!.body).toContain('(attempt 2)');
    expect(standin.calls('PATCH', /\/issues\/comments\/\d+$/)).toHaveLength(1);
  });

  it('pushes a fix branch and opens a pull request in pull-request mode', async () => {
    const repo = 'octo-org/pr-mode';
    standin.addGitHubRun(repo, 5002, [
      { id: 9002, name: 'Format check', conclusion: 'failure', steps: FORMAT_STEPS, log: GITHUB_FORMAT_LOG },
    ]);
    const { job, result } = await finished(await deliverGitHub(githubRun(repo, 5002)));
    expect(result.outcome).toBe('fixed');
    expect(result.report).toMatchObject({ mode: 'pull-request', status: 'reported' });

    const branch = `ci-fixer/${repos[repo]!.sha.slice(0, 8)}-5002`;
    const pull = standin.github.pulls.find((each) => each.repo === repo)!;
    expect(pull).toMatchObject({ head: branch, base: 'master' });
    const bare = repos[repo]!;
    expect(bare.git('show', `${branch}:src/index.js`)).toBe(
      "export const answer = { value: 42, unit: 'none' };",
    );
    expect(bare.git('log', '-1', '--format=%B', branch)).toContain(FIX_COMMIT_TRAILER);
    expect(bare.git('rev-parse', `${branch}~1`)).toBe(bare.sha);
    expect(bare.git('rev-parse', 'master')).toBe(bare.sha);

    // Delivered again, as BullMQ does when the worker's completion was lost (its lock lapsed after the
    // report): the earlier run's result, and no second branch push or pull request.
    const pushes = bare.git('rev-parse', branch);
    const again = await processor((await api.queue.getJob(job.id!))!);
    expect(again).toEqual(result);
    expect(standin.github.pulls.filter((each) => each.repo === repo)).toHaveLength(1);
    expect(bare.git('rev-parse', branch)).toBe(pushes);

    // Killed between sending the report and keeping the record: the next delivery fixes again and
    // reports again, and finds the branch and the pull request of the first run instead of adding its own.
    await connection.del(finishedRunKey(job.id!));
    const rerun = await processor((await api.queue.getJob(job.id!))!);
    expect(rerun.report).toMatchObject({ mode: 'pull-request', status: 'reported' });
    expect(rerun.report!.url).toBe(result.report!.url);
    expect(standin.github.pulls.filter((each) => each.repo === repo)).toHaveLength(1);
    expect(bare.git('rev-parse', branch)).toBe(pushes);
  });

  it('commits onto the head branch in push mode, opted in for that repository', async () => {
    const repo = 'octo-org/push-mode';
    standin.addGitHubRun(repo, 5003, [
      { id: 9003, name: 'Format check', conclusion: 'failure', steps: FORMAT_STEPS, log: GITHUB_FORMAT_LOG },
    ]);
    const { result } = await finished(await deliverGitHub(githubRun(repo, 5003)));
    expect(result.report).toMatchObject({ mode: 'push', status: 'reported' });
    const bare = repos[repo]!;
    expect(bare.git('rev-parse', 'master~1')).toBe(bare.sha);
    expect(bare.git('show', 'master:src/index.js')).toBe(
      "export const answer = { value: 42, unit: 'none' };",
    );
  });

  it.each([
    ['pull-request', 'octo-org/pr-mode', 5006],
    ['push', 'octo-org/push-mode', 5007],
  ])(
    "never writes a fork's run into the base repository in %s mode: it comments instead",
    async (mode, repo, runId) => {
      standin.addGitHubRun(repo, runId, [
        {
          id: runId + 4000,
          name: 'Format check',
          conclusion: 'failure',
          steps: FORMAT_STEPS,
          log: GITHUB_FORMAT_LOG,
        },
      ]);
      const bare = repos[repo]!;
      const refsBefore = bare.git('for-each-ref', '--format=%(refname) %(objectname)');
      const pullsBefore = standin.github.pulls.filter((each) => each.repo === repo).length;
      const payload = githubRun(repo, runId);
      payload.workflow_run.head_repository.full_name = `someone/${repo.split('/')[1]}`;

      const { result } = await finished(await deliverGitHub(payload));
      expect(result.outcome).toBe('fixed');
      expect(result.report).toMatchObject({ mode, status: 'reported' });
      expect(result.report!.detail).toContain("never used for a fork's run");
      expect(bare.git('for-each-ref', '--format=%(refname) %(objectname)')).toBe(refsBefore);
      expect(standin.github.pulls.filter((each) => each.repo === repo)).toHaveLength(pullsBefore);
      const comments = standin.github.comments.get(`${repo}#2`)!;
      expect(comments.at(-1)!.body).toContain('```diff');
    },
  );

  it('ends as unfixable with the reason when the failing step runs an action', async () => {
    const repo = 'octo-org/octo-repo';
    standin.addGitHubRun(repo, 5004, [
      {
        id: 9004,
        name: 'build',
        conclusion: 'failure',
        steps: [
          { name: 'Run actions/checkout@v4', conclusion: 'success' },
          { name: 'Deploy preview', conclusion: 'failure' },
        ],
        log: GITHUB_DEPLOY_LOG,
      },
    ]);
    const { result } = await finished(await deliverGitHub(githubRun(repo, 5004)));
    expect(result.outcome).toBe('unfixable');
    expect(result.reason).toMatch(
      /runs the action example\/deploy-action@v1; only run: steps can be reproduced/,
    );
    expect(result.report).toMatchObject({ status: 'reported' });
  });

  it('fails the report, not the fix, when the forge refuses permanently', async () => {
    const repo = 'octo-org/octo-repo';
    standin.addGitHubRun(repo, 5005, [
      { id: 9005, name: 'Format check', conclusion: 'failure', steps: FORMAT_STEPS, log: GITHUB_FORMAT_LOG },
    ]);
    standin.failNext('GET', /\/issues\/2\/comments$/, 404, { body: { message: 'Not Found' } });
    const { result } = await finished(await deliverGitHub(githubRun(repo, 5005)));
    expect(result.outcome).toBe('fixed');
    expect(result.report).toMatchObject({ mode: 'comment', status: 'failed' });
    expect(result.report!.detail).toMatch(/404/);
  });
});

describe('GitLab', () => {
  function pipeline(projectId: number, pipelineId: number, repo: string) {
    const payload = gitlabPipeline('failed');
    payload.object_attributes.id = pipelineId;
    payload.object_attributes.sha = repos[repo]!.sha;
    payload.project.id = projectId;
    payload.project.path_with_namespace = repo;
    payload.merge_request.source_project_id = projectId;
    payload.merge_request.target_project_id = projectId;
    return payload;
  }

  async function deliver(payload: unknown): Promise<string> {
    const response = await postGitLab(api.url, payload, { headers: { 'idempotency-key': randomUUID() } });
    expect(response.status).toBe(202);
    return (await readJson(response)).jobId;
  }

  it('fixes a failed pipeline and writes a merge request note', async () => {
    standin.addGitLabPipeline(1, 7001, [
      { id: 8001, name: 'format', stage: 'test', status: 'failed', trace: GITLAB_FORMAT_TRACE },
      { id: 8002, name: 'lint', stage: 'test', status: 'success', trace: '' },
    ]);
    const { job, result } = await finished(await deliver(pipeline(1, 7001, 'gitlab-org/gitlab-test')));
    expect(recovered(job).command).toBe('set -eo pipefail\nnode --version\nnpx prettier --check src');
    expect(recovered(job).logs).toContain('$ npx prettier --check src');
    expect(recovered(job).logs).not.toContain('section_start');
    expect(result.outcome).toBe('fixed');
    expect(result.report).toMatchObject({ mode: 'comment', status: 'reported' });
    const notes = standin.gitlab.notes.get('1!1')!;
    expect(notes).toHaveLength(1);
    expect(notes[0]!.body).toContain('ci-fixer: fixed');
    expect(notes[0]!.body).toContain("+export const answer = { value: 42, unit: 'none' };");
  });

  it('pushes a fix branch and opens a merge request in pull-request mode', async () => {
    const repo = 'gitlab-org/mr-mode';
    standin.addGitLabPipeline(2, 7002, [
      { id: 8003, name: 'format', stage: 'test', status: 'failed', trace: GITLAB_FORMAT_TRACE },
    ]);
    const { result } = await finished(await deliver(pipeline(2, 7002, repo)));
    expect(result.report).toMatchObject({ mode: 'pull-request', status: 'reported' });
    const branch = `ci-fixer/${repos[repo]!.sha.slice(0, 8)}-7002`;
    expect(standin.gitlab.mergeRequests).toEqual([
      expect.objectContaining({ projectId: 2, source_branch: branch, target_branch: 'test' }),
    ]);
    expect(repos[repo]!.git('show', `${branch}:src/index.js`)).toBe(
      "export const answer = { value: 42, unit: 'none' };",
    );
  });
});

describe('worker metrics', () => {
  it('count fix jobs by outcome, stage durations, sandbox creation and forge API errors', async () => {
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/ci_fixer_fix_jobs_total\{outcome="fixed"\} [1-9]/);
    expect(text).toMatch(/ci_fixer_stage_duration_seconds_count\{stage="verifying"\} [1-9]/);
    expect(text).toMatch(/ci_fixer_sandbox_create_seconds_count [1-9]/);
    expect(text).toMatch(/ci_fixer_forge_api_errors_total\{forge="github",status="502"\} 1/);
    expect(text).toMatch(
      /ci_fixer_forge_reports_total\{forge="gitlab",mode="pull-request",status="reported"\} 1/,
    );
  });
});

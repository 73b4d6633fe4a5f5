/**
 * The whole platform as a user meets it: the real API and worker processes, a real Redis, real git
 * repositories and the local sandbox. Each fixture is submitted over HTTP and followed to its outcome.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixtureRepo, FIXTURES, type FixtureKind } from '../support/fixture-repos.ts';
import { freePort, startApp, waitFor, type RunningApp } from '../support/processes.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const TOKEN = 'e2e-token-0123456789abcdef';
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
let api: RunningApp;
let worker: RunningApp;
let redis: TestRedis;
let baseUrl: string;
let sandboxRoot: string;
const repos = mkdtempSync(path.join(os.tmpdir(), 'cif-e2e-repos-'));

interface JobView {
  id: string;
  status: string;
  stage: string | null;
  patch: string | null;
  strategy: string | null;
  baseSha: string | null;
  diagnosis: { summary: string; findings: { category: string; tool: string; file?: string }[] } | null;
  steps: { stage: string; command: string; exitCode: number; durationMs: number; logTail: string }[];
}

beforeAll(async () => {
  const port = await freePort();
  sandboxRoot = mkdtempSync(path.join(os.tmpdir(), 'cif-e2e-sandboxes-'));
  redis = await startTestRedis();
  const env = {
    REDIS_URL: redis.url,
    PORT: String(port),
    CI_FIXER_API_TOKEN: TOKEN,
    CI_FIXER_ALLOW_FILE_REPOS: 'true',
    SANDBOX_LOCAL_ROOT: sandboxRoot,
    WORKER_CONCURRENCY: '2',
  };
  api = startApp('api', env);
  worker = startApp('worker', env);
  baseUrl = `http://127.0.0.1:${port}`;
  await waitFor('the API to be ready', async () =>
    (await fetch(`${baseUrl}/readyz`)).ok ? true : undefined,
  );
  await waitFor('the worker to start', () => (worker.output().includes('worker started') ? true : undefined));
});

afterAll(async () => {
  await Promise.all([api?.stop(), worker?.stop()]);
  await redis?.stop();
});

async function submit(
  kind: FixtureKind,
): Promise<{ repo: ReturnType<typeof createFixtureRepo>; id: string }> {
  const repo = createFixtureRepo(kind, mkdtempSync(path.join(repos, `${kind}-`)));
  const res = await fetch(`${baseUrl}/v1/fix-jobs`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ repo: { url: repo.path, sha: repo.sha }, command: FIXTURES[kind].command }),
  });
  expect(res.status).toBe(202);
  return { repo, id: ((await res.json()) as { id: string }).id };
}

async function outcome(id: string): Promise<JobView> {
  return waitFor(
    `job ${id} to finish`,
    async () => {
      const view = (await (await fetch(`${baseUrl}/v1/fix-jobs/${id}`, { headers })).json()) as JobView;
      return ['queued', 'running'].includes(view.status) ? undefined : view;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
}

/** Applies the patch to a fresh clone of the original commit and runs the command there, outside any sandbox. */
function verifyPatchOnHost(repoPath: string, sha: string, patch: string, command: string): void {
  const clone = mkdtempSync(path.join(os.tmpdir(), 'cif-e2e-verify-'));
  execFileSync('git', ['clone', '-q', repoPath, clone]);
  execFileSync('git', ['checkout', '-q', sha], { cwd: clone });
  execFileSync('git', ['apply', '--check', '-'], { cwd: clone, input: patch });
  execFileSync('git', ['apply', '-'], { cwd: clone, input: patch });
  execFileSync('bash', ['-c', `npm ci --no-audit --no-fund --silent && ${command}`], {
    cwd: clone,
    stdio: 'pipe',
  });
}

describe('end to end through the API and worker processes', () => {
  it.each(['prettier', 'eslint'] as const)(
    'fixes a %s violation with a patch that applies and passes',
    async (kind) => {
      const { repo, id } = await submit(kind);
      const view = await outcome(id);
      expect(view.status).toBe('fixed');
      expect(view.baseSha).toBe(repo.sha);
      expect(view.strategy).toBe(kind === 'prettier' ? 'prettier-write' : 'eslint-fix');
      expect(view.diagnosis!.findings[0]).toMatchObject({ tool: kind, file: 'src/index.js' });
      expect(view.patch).toContain('diff --git a/src/index.js b/src/index.js');
      expect(view.steps.map((step) => step.stage)).toEqual(
        expect.arrayContaining(['cloning', 'installing', 'reproducing', 'fixing', 'verifying']),
      );
      const verification = view.steps.filter((step) => step.stage === 'verifying').at(-1)!;
      expect(verification.exitCode).toBe(0);
      verifyPatchOnHost(repo.path, repo.sha, view.patch!, FIXTURES[kind].command);
    },
  );

  it('reports a command that passes as not reproducible', async () => {
    const view = await outcome((await submit('passing')).id);
    expect(view.status).toBe('not_reproducible');
    expect(view.patch).toBeNull();
  });

  it('reports a failing unit test as unfixable, with the failure kept', async () => {
    const view = await outcome((await submit('failingTest')).id);
    expect(view.status).toBe('unfixable');
    expect(view.patch).toBeNull();
    const reproduction = view.steps.find((step) => step.stage === 'reproducing')!;
    expect(reproduction.exitCode).not.toBe(0);
    expect(reproduction.logTail).toContain('sum adds');
  });

  it('leaves no sandbox behind', async () => {
    await waitFor('sandboxes to be destroyed', () =>
      readdirSync(sandboxRoot).filter((name) => name.startsWith('sbx-')).length === 0 ? true : undefined,
    );
  });
});

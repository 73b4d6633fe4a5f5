/**
 * `pnpm start` (scripts/start.ts) as a newcomer runs it: the API and a worker as real child processes on a
 * private Redis. It announces the API only once the API answers, stops everything on Ctrl-C, and when a
 * child fails it stops the rest and exits with an error instead of hanging or exiting 0.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, waitFor } from '../support/processes.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
let redis: TestRedis;

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis?.stop();
});

function start(env: Record<string, string>) {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.ts')], {
    env: {
      PATH: process.env.PATH!,
      HOME: process.env.HOME!,
      REDIS_URL: redis.url,
      SANDBOX_LOCAL_ROOT: mkdtempSync(path.join(os.tmpdir(), 'cif-start-sandboxes-')),
      WORKER_METRICS_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('pnpm start', () => {
  test('announces the API once it answers, and stops everything on SIGINT with exit code 0', async () => {
    const port = await freePort();
    const run = start({ PORT: String(port) });
    try {
      await waitFor('the API announcement', () => (run.output().includes('API on') ? true : undefined), {
        timeoutMs: 90_000,
      });
      // Printed after /readyz answered, so the API answers now.
      expect(run.output()).toContain(`API on http://127.0.0.1:${port}`);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      await waitFor('the worker to start', () =>
        run.output().includes('worker started') ? true : undefined,
      );
    } finally {
      run.child.kill('SIGINT');
    }
    expect(await run.exited).toBe(0);
  });

  test('a child that fails stops the rest, and start exits with an error without announcing the API', async () => {
    // Production without an API token: the API refuses to start; the worker must be stopped with it.
    const run = start({
      PORT: String(await freePort()),
      NODE_ENV: 'production',
      CI_FIXER_JOB_SIGNING_KEY: 'start-test-signing-key-0123456789abcdef',
    });
    const code = await Promise.race([
      run.exited,
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 60_000)),
    ]);
    if (code === 'hung') run.child.kill('SIGKILL');
    expect(code).not.toBe('hung');
    expect(code).not.toBe(0);
    expect(run.output()).toMatch(/CI_FIXER_API_TOKEN is required/);
    expect(run.output()).toMatch(/exited \(code \d+\); stopping the rest/);
    expect(run.output()).not.toContain('API on');
  });
});

/**
 * The API and worker images, built by scripts/build-app-images, run with podman against the real Redis
 * (host network): the API answers /readyz, the images' own HEALTHCHECKs pass and fail when they should, and
 * a worker stopped with SIGTERM shuts down cleanly through tini. The Redis is a private server on loopback,
 * which the containers reach because they share the host's network.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ENV_NAMES, envSchema } from '@ci-fixer/config';
import { HEALTH_PATHS } from '../../apps/api/src/health.ts';
import { freePort, waitFor } from '../support/processes.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { podman, podmanOk, requireImage } from './podman.ts';

let redis: TestRedis;
let REDIS_URL: string;
const BUILD = 'scripts/build-app-images';
const started: string[] = [];
const suffix = `${process.pid}-${Date.now().toString(36)}`;

interface ImageInfo {
  Config: {
    User: string;
    Env: string[];
    Entrypoint: string[];
    Cmd: string[];
    ExposedPorts?: Record<string, unknown>;
  };
  Healthcheck?: { Test: string[] };
}

async function inspect(tag: string): Promise<ImageInfo> {
  return (JSON.parse(await podmanOk(['image', 'inspect', tag])) as ImageInfo[])[0]!;
}

async function start(name: string, image: string, env: Record<string, string>): Promise<string> {
  const container = `cf-deploy-${name}-${suffix}`;
  started.push(container);
  const envArgs = Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  await podmanOk(['run', '-d', '--name', container, '--network', 'host', ...envArgs, image]);
  return container;
}

async function status(url: string): Promise<number> {
  return (await fetch(url, { signal: AbortSignal.timeout(3000) })).status;
}

beforeAll(async () => {
  await requireImage('ci-fixer/api:latest', BUILD);
  await requireImage('ci-fixer/worker:latest', BUILD);
  redis = await startTestRedis();
  REDIS_URL = redis.url;
});

afterAll(async () => {
  for (const container of started) await podman(['rm', '-f', '-t', '0', container]);
  await redis?.stop();
});

describe('image metadata', () => {
  test.each(['api', 'worker'])(
    '%s: non-root, tini as PID 1, NODE_ENV=production, only names the code reads',
    async (app) => {
      const image = await inspect(`ci-fixer/${app}:latest`);
      expect(image.Config.User).toBe('node');
      expect(image.Config.Entrypoint).toEqual(['/usr/bin/tini', '--']);
      expect(image.Config.Cmd).toEqual(['node', `apps/${app}/src/main.ts`]);
      const env = Object.fromEntries(image.Config.Env.map((line) => line.split(/=(.*)/s).slice(0, 2)));
      expect(env.NODE_ENV).toBe('production');
      const appEnv = Object.keys(env).filter(
        (name) => !['PATH', 'NODE_VERSION', 'npm_config_update_notifier'].includes(name),
      );
      for (const name of appEnv) expect(ENV_NAMES as readonly string[]).toContain(name);
    },
  );

  test('api: listens on 0.0.0.0 at the schema default port, which it exposes and health-checks on /readyz', async () => {
    const image = await inspect('ci-fixer/api:latest');
    const env = Object.fromEntries(image.Config.Env.map((line) => line.split(/=(.*)/s).slice(0, 2)));
    const defaultPort = envSchema.shape.PORT.parse(undefined);
    expect(env.HOST).toBe('0.0.0.0');
    expect(Number(env.PORT)).toBe(defaultPort);
    expect(Object.keys(image.Config.ExposedPorts ?? {})).toEqual([`${defaultPort}/tcp`]);
    expect(image.Healthcheck?.Test.join(' ')).toContain(HEALTH_PATHS.ready);
  });

  test('workspace packages resolve outside node_modules (Node strips types only there) and dev tools are absent', async () => {
    const out = await podmanOk([
      'run',
      '--rm',
      '--network',
      'none',
      'ci-fixer/worker:latest',
      'node',
      '-e',
      "const fs = require('fs'); console.log(fs.realpathSync('apps/worker/node_modules/@ci-fixer/config'), fs.existsSync('node_modules/vitest'), fs.existsSync('node_modules/typescript'))",
    ]);
    expect(out.trim()).toBe('/app/packages/config false false');
  });
});

const SIGNING_KEY = 'deploy-test-signing-key-0123456789abcdef';

describe('running against the real Redis', () => {
  test('the API answers /healthz and /readyz, and its HEALTHCHECK passes', async () => {
    const port = await freePort();
    const api = await start('api', 'ci-fixer/api:latest', {
      REDIS_URL,
      PORT: String(port),
      CI_FIXER_API_TOKEN: 'deploy-test-token-0123456789',
      CI_FIXER_JOB_SIGNING_KEY: SIGNING_KEY,
    });
    const base = `http://127.0.0.1:${port}`;
    await waitFor('/readyz to answer 200', async () =>
      (await status(`${base}${HEALTH_PATHS.ready}`)) === 200 ? true : undefined,
    );
    expect(await status(`${base}${HEALTH_PATHS.live}`)).toBe(200);
    expect((await podman(['healthcheck', 'run', api])).code).toBe(0);
  });

  test('without Redis, /readyz answers 503 and the HEALTHCHECK fails', async () => {
    const port = await freePort();
    const deadRedis = `redis://127.0.0.1:${await freePort()}`;
    const api = await start('api-noredis', 'ci-fixer/api:latest', {
      REDIS_URL: deadRedis,
      PORT: String(port),
      CI_FIXER_API_TOKEN: 'deploy-test-token-0123456789',
      CI_FIXER_JOB_SIGNING_KEY: SIGNING_KEY,
    });
    const base = `http://127.0.0.1:${port}`;
    await waitFor('/healthz', async () =>
      (await status(`${base}${HEALTH_PATHS.live}`)) === 200 ? true : undefined,
    );
    expect(await status(`${base}${HEALTH_PATHS.ready}`)).toBe(503);
    expect((await podman(['healthcheck', 'run', api])).code).not.toBe(0);
  });

  test('the worker heartbeats (HEALTHCHECK passes) and stops cleanly on SIGTERM', async () => {
    // The image has no bubblewrap, and unisolated sandboxes are refused in production; this test needs
    // only the heartbeat, so it runs the worker outside production with plain processes.
    const worker = await start('worker', 'ci-fixer/worker:latest', {
      REDIS_URL,
      NODE_ENV: 'test',
      SANDBOX_DRIVER: 'local',
      SANDBOX_ISOLATION: 'none',
      CI_FIXER_JOB_SIGNING_KEY: SIGNING_KEY,
    });
    await waitFor('the worker HEALTHCHECK to pass', async () =>
      (await podman(['healthcheck', 'run', worker])).code === 0 ? true : undefined,
    );
    await podmanOk(['stop', '-t', '30', worker]);
    expect((await podmanOk(['inspect', '--format', '{{.State.ExitCode}}', worker])).trim()).toBe('0');
    const logs = await podman(['logs', worker]);
    expect(logs.stdout + logs.stderr).toContain('worker stopped');
    // Its heartbeat is gone, so the same check now fails.
    const check = await podman([
      'run',
      '--rm',
      '--network',
      'host',
      '-e',
      `REDIS_URL=${REDIS_URL}`,
      'ci-fixer/worker:latest',
      'node',
      'scripts/worker-healthcheck.ts',
    ]);
    expect(check.code).toBe(1);
  });

  test("the worker's default driver isolates: without a container engine it refuses to start", async () => {
    // The image's own defaults (production, SANDBOX_DRIVER=docker) and no engine socket mounted: the
    // worker must stop at start saying what it needs, never fall back to unisolated processes.
    const worker = await start('worker-default', 'ci-fixer/worker:latest', {
      REDIS_URL,
      CI_FIXER_JOB_SIGNING_KEY: SIGNING_KEY,
    });
    const exitCode = await waitFor('the worker to exit', async () => {
      const state = await podmanOk(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', worker]);
      const [status, code] = state.trim().split(' ');
      return status === 'exited' ? Number(code) : undefined;
    });
    expect(exitCode).not.toBe(0);
    const logs = await podman(['logs', worker]);
    expect(logs.stdout + logs.stderr).toMatch(/container engine at .* does not answer/);
    expect(logs.stdout + logs.stderr).not.toContain('worker started');
  });
});

/**
 * `pnpm start`: the whole platform on this machine, in the foreground. API and worker run as two child
 * processes with the local sandbox driver; Redis is the one at REDIS_URL, or a private one started here
 * when nothing answers and redis-server is installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { ConfigError, loadConfig, type Config } from '@ci-fixer/config';
import { DASHBOARD_PATH } from '../apps/api/src/dashboard.ts';
import { HEALTH_PATHS } from '../apps/api/src/health.ts';

const root = path.resolve(import.meta.dirname, '..');
const say = (line: string) => process.stderr.write(`[start] ${line}\n`);

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      say(error.message);
      process.exit(2);
    }
    throw error;
  }
}

async function answers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function ensureRedis(url: string): Promise<ChildProcess | undefined> {
  if (await answers(url)) {
    say(`using Redis at ${url}`);
    return undefined;
  }
  const { hostname, port } = new URL(url);
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(hostname);
  const installed = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!local || !installed) {
    say(`nothing answers at REDIS_URL=${url}.`);
    say(
      installed
        ? 'Start that Redis, or point REDIS_URL at one that runs.'
        : 'Install Redis (apt-get install redis-server, brew install redis) or run `docker compose up -d redis`, then try again.',
    );
    process.exit(1);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ci-fixer-redis-'));
  say(`nothing answers at ${url}; starting a private redis-server on port ${port || 6379} (data in ${dir})`);
  const redis = spawn(
    'redis-server',
    ['--port', port || '6379', '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', ''],
    { stdio: 'ignore' },
  );
  redis.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await answers(url)) return redis;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  say('the private redis-server did not start; run `redis-server` by hand to see why');
  redis.kill();
  process.exit(1);
}

const config = configOrExit();
const redis = await ensureRedis(config.REDIS_URL);
// Local mode fixes repositories on this machine, so it accepts local paths unless told otherwise.
const env = {
  ...process.env,
  CI_FIXER_ALLOW_FILE_REPOS: process.env.CI_FIXER_ALLOW_FILE_REPOS ?? 'true',
  // The API signs jobs and the worker verifies them; one key for both, made for this run when unset.
  CI_FIXER_JOB_SIGNING_KEY: process.env.CI_FIXER_JOB_SIGNING_KEY || randomBytes(32).toString('hex'),
};
const children = ['api', 'worker'].map((app) => {
  const child = spawn(process.execPath, [path.join(root, 'apps', app, 'src', 'main.ts')], {
    env,
    stdio: 'inherit',
  });
  // Made at spawn, so that a child that has already exited is not waited for again.
  const exited = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))),
  );
  return { app, child, exited };
});

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.all(children.map(({ exited }) => exited));
    redis?.kill('SIGTERM');
    process.exit(code);
  }
  return new Promise<never>(() => {});
}
for (const { app, exited } of children) {
  void exited.then((code) => {
    if (stopping) return;
    say(`the ${app} exited (code ${code}); stopping the rest`);
    // A child that ends on its own is a failure even if it said 0: the platform is not running.
    void stop(code === 0 ? 1 : code);
  });
}
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

// Say where the API is only once it answers, so that the line is never printed for an API that failed.
const base = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${config.PORT}`;
for (;;) {
  if (stopping) break;
  const ready = await fetch(`${base}${HEALTH_PATHS.ready}`, { signal: AbortSignal.timeout(1000) }).then(
    (response) => response.ok,
    () => false,
  );
  if (ready) {
    say(`API on ${base}, dashboard at ${DASHBOARD_PATH}; Ctrl-C stops everything`);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
}

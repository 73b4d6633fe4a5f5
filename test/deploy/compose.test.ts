/**
 * docker-compose.yml and the Dockerfiles against the code: env names, ports, health routes, shutdown
 * timing, and who may reach the container engine. Static: parses the files with `yaml` and a small
 * Dockerfile reader; images.test.ts runs the images for real.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { ENV_NAMES, SANDBOX_DRIVERS, envSchema, loadConfig } from '@ci-fixer/config';
import { HEALTH_PATHS } from '../../apps/api/src/health.ts';
import { REPO_ROOT, startScriptedRedis } from './helm.ts';

const envNames: readonly string[] = ENV_NAMES;
const defaultPort = envSchema.shape.PORT.parse(undefined);
const defaultMetricsPort = envSchema.shape.WORKER_METRICS_PORT.parse(undefined);

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
}

const compose = parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const { api, worker, redis } = compose.services as Record<'api' | 'worker' | 'redis', Service>;

/** What a required variable (`${VAR:?message}`) stands for here: long enough for every key the schema checks. */
const STAND_IN = 'compose0test0stand0in0value0000000000000';

/** A compose value with `${VAR:-default}` / `${VAR:?message}` resolved as if VAR were unset (`?` gives a stand-in). */
function interpolate(value: string | number): string {
  return String(value).replace(
    /\$\{[A-Za-z_][A-Za-z0-9_]*(?::([-?])([^}]*))?\}/g,
    (_match, op: string, rest: string) => (op === '-' ? rest : STAND_IN),
  );
}

function environment(service: Service): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([key, value]) => [key, interpolate(value)]),
  );
}

function seconds(duration: string): number {
  const match = /^(\d+)(s|m|h)$/.exec(duration);
  if (!match) throw new Error(`unsupported duration ${duration}`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600 }[match[2] as 's' | 'm' | 'h'];
}

interface Instruction {
  keyword: string;
  args: string;
}

/** The instructions of a Dockerfile's final stage (continuation lines joined, comments dropped). */
function finalStage(file: string): Instruction[] {
  const text = readFileSync(path.join(REPO_ROOT, file), 'utf8')
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  const instructions = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    });
  const lastFrom = instructions.map((i) => i.keyword).lastIndexOf('FROM');
  return instructions.slice(lastFrom);
}

function dockerfileEnv(stage: Instruction[]): Record<string, string> {
  return Object.fromEntries(
    stage
      .filter((i) => i.keyword === 'ENV')
      .flatMap((i) => [...i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S+)/g)].map((m) => [m[1]!, m[2]!])),
  );
}

const args = (stage: Instruction[], keyword: string) =>
  stage.filter((i) => i.keyword === keyword).map((i) => i.args);

describe('docker-compose.yml', () => {
  test.each(['api', 'worker'])(
    '%s: every environment name is one the code reads, and the values load',
    (name) => {
      const env = environment(compose.services[name]!);
      for (const key of Object.keys(env)) expect(envNames, `${name}.environment`).toContain(key);
      expect(() => loadConfig(env)).not.toThrow();
    },
  );

  test('the API port, the published port, the Dockerfile and the health check agree with the code', () => {
    const port = Number(environment(api).PORT);
    expect(port).toBe(defaultPort);
    expect(api.ports!.map((mapping) => interpolate(mapping).split(':').at(-1))).toEqual([String(port)]);
    const healthcheck = api.healthcheck!.test.join(' ');
    expect(healthcheck).toContain(`127.0.0.1:${port}${HEALTH_PATHS.ready}`);
    const stage = finalStage('Dockerfile.api');
    expect(args(stage, 'EXPOSE')).toEqual([String(port)]);
    expect(dockerfileEnv(stage).PORT).toBe(String(port));
  });

  test('api and worker start after Redis is healthy; Redis keeps an append-only file on a volume', () => {
    for (const service of [api, worker])
      expect(service.depends_on!.redis).toEqual({ condition: 'service_healthy' });
    // redis-cli exits 0 on NOAUTH, so the check compares the reply ($$ is compose's escaped $).
    expect(redis.healthcheck!.test).toEqual(['CMD-SHELL', '[ "$$(redis-cli ping)" = PONG ]']);
    expect(redis.command!.join(' ')).toMatch(/--appendonly yes .*--dir \/data/);
    const [volume, mountPath] = redis.volumes![0]!.split(':');
    expect(mountPath).toBe('/data');
    expect(Object.keys(compose.volumes)).toContain(volume);
  });

  test('Redis requires CI_FIXER_REDIS_PASSWORD, and both apps log in with it', () => {
    const raw = readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
    // Required like CI_FIXER_API_TOKEN: compose refuses to start without it and says how to make one.
    for (const value of [
      redis.environment!.REDIS_PASSWORD,
      redis.environment!.REDISCLI_AUTH,
      api.environment!.REDIS_URL,
    ])
      expect(String(value)).toMatch(/\$\{CI_FIXER_REDIS_PASSWORD:\?set CI_FIXER_REDIS_PASSWORD/);
    expect(raw).not.toMatch(/CI_FIXER_REDIS_PASSWORD:-/); // never a default password
    for (const service of [api, worker])
      expect(environment(service).REDIS_URL).toBe(`redis://:${STAND_IN}@redis:6379`);
    expect(() => loadConfig(environment(api))).not.toThrow();
  });

  test('the Redis start script, run for real: password required, not on the command line, noeviction', async () => {
    const password = 'compose0test0password0' + Date.now().toString(36);
    // compose turns $$ into $ before the shell sees the script.
    const script = redis.command!.at(-1)!.replaceAll('$$', '$');
    expect(redis.command!.slice(0, 2)).toEqual(['sh', '-c']);
    const server = await startScriptedRedis(script, password);
    try {
      expect(await server.cli(['ping'])).toMatch(/^NOAUTH/);
      expect(await server.cli(['ping'], password)).toBe('PONG');
      // A wrong password: AUTH fails (redis-cli warns on stderr) and the command is refused.
      expect(await server.cli(['ping'], 'wrong-password')).toMatch(/^NOAUTH/);
      expect(await server.cli(['config', 'get', 'maxmemory-policy'], password)).toBe(
        'maxmemory-policy\nnoeviction',
      );
      expect(await server.cli(['config', 'get', 'appendonly'], password)).toBe('appendonly\nyes');
      expect(server.cmdline()).toContain('redis-server');
      expect(server.cmdline()).not.toContain(password);
    } finally {
      await server.stop();
    }
  });

  test('only the socket proxy mounts the engine socket, read-only; the worker reaches the engine through it', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      const sockets = (service.volumes ?? []).filter((v) => /\.sock\b/.test(interpolate(v)));
      if (name === 'docker-proxy') {
        expect(sockets).toHaveLength(1);
        expect(interpolate(sockets[0]!)).toMatch(/:ro$/);
      } else {
        expect(sockets, name).toEqual([]);
      }
    }
    const env = environment(worker);
    expect(SANDBOX_DRIVERS as readonly string[]).toContain(env.SANDBOX_DRIVER);
    expect(env.SANDBOX_DRIVER).toBe('docker');
    expect(env.DOCKER_HOST).toBe('tcp://docker-proxy:2375');
    expect(worker.depends_on!['docker-proxy']).toBeDefined();
  });

  test('the worker gets time to finish its longest fix on stop', () => {
    const env = environment(worker);
    const grace = Number(env.WORKER_SHUTDOWN_GRACE_SECONDS);
    expect(grace).toBeGreaterThanOrEqual(Number(env.FIX_TIMEOUT_SECONDS));
    expect(seconds(worker.stop_grace_period!)).toBeGreaterThan(grace);
  });

  test.each([
    ['api', 'Dockerfile.api'],
    ['worker', 'Dockerfile.worker'],
  ])('%s builds from %s and runs the image the tests build', (name, dockerfile) => {
    const service = compose.services[name]!;
    expect(service.build).toEqual({ context: '.', dockerfile });
    expect(service.image).toBe(`ci-fixer/${name}:latest`);
  });
});

describe('Dockerfiles', () => {
  test.each([
    ['Dockerfile.api', 'api'],
    ['Dockerfile.worker', 'worker'],
  ])(
    '%s: Node 24 base, tini, non-root, production, only env names the code reads, a command that exists',
    (file, app) => {
      const whole = readFileSync(path.join(REPO_ROOT, file), 'utf8')
        .split('\n')
        .filter((line) => !/^\s*#/.test(line))
        .join('\n');
      expect(whole).toMatch(/^ARG BASE_IMAGE=node:24-bookworm-slim$/m);
      expect(whole).toContain('pnpm install --prod --frozen-lockfile');
      expect(whole).not.toMatch(/pnpm deploy/);
      const stage = finalStage(file);
      expect(stage[0]!.args).toBe('${BASE_IMAGE}');
      expect(args(stage, 'USER')).toEqual(['node']);
      expect(args(stage, 'ENTRYPOINT')).toEqual(['["/usr/bin/tini", "--"]']);
      const env = dockerfileEnv(stage);
      expect(env.NODE_ENV).toBe('production');
      for (const key of Object.keys(env)) expect(envNames, file).toContain(key);
      expect(() => loadConfig({ ...env, CI_FIXER_API_TOKEN: 'x'.repeat(32) })).not.toThrow();
      const cmd = JSON.parse(args(stage, 'CMD')[0]!) as string[];
      expect(cmd).toEqual(['node', `apps/${app}/src/main.ts`]);
      expect(existsSync(path.join(REPO_ROOT, cmd[1]!))).toBe(true);
    },
  );

  test('Dockerfile.api: listens on 0.0.0.0 and health-checks readiness on its own port', () => {
    const stage = finalStage('Dockerfile.api');
    expect(dockerfileEnv(stage).HOST).toBe('0.0.0.0');
    const healthcheck = args(stage, 'HEALTHCHECK')[0]!;
    expect(healthcheck).toContain(HEALTH_PATHS.ready);
    expect(healthcheck).toContain('process.env.PORT || 3000');
  });

  test('Dockerfile.worker: exposes the metrics port on 0.0.0.0 and checks its heartbeat', () => {
    const stage = finalStage('Dockerfile.worker');
    expect(args(stage, 'EXPOSE')).toEqual([String(defaultMetricsPort)]);
    expect(dockerfileEnv(stage).WORKER_METRICS_HOST).toBe('0.0.0.0');
    const healthcheck = args(stage, 'HEALTHCHECK')[0]!;
    expect(healthcheck).toContain('scripts/worker-healthcheck.ts');
    expect(existsSync(path.join(REPO_ROOT, 'scripts', 'worker-healthcheck.ts'))).toBe(true);
  });

  test('.dockerignore keeps dependencies, tests and VCS data out of the build context', () => {
    const ignored = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['**/node_modules', '.git', '**/test', 'test-results'])
      expect(ignored).toContain(entry);
  });
});

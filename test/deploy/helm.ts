/** Runs the real helm binary on chart/ and parses what it renders. */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CHART_DIR = path.join(REPO_ROOT, 'chart');

const run = promisify(execFile);

/**
 * helm from $HELM, else the one scripts/dev-cluster builds into its tool cache. Throws with what to do when
 * there is none: these tests must fail, not skip, on a machine without it.
 */
export function findHelm(): string {
  if (process.env.HELM) return process.env.HELM;
  const cache = path.join(
    process.env.CI_FIXER_CACHE ?? path.join(os.homedir(), '.cache', 'ci-fixer'),
    'k8s-tools',
  );
  const versions = existsSync(cache) ? readdirSync(cache).sort().reverse() : [];
  for (const version of versions) {
    const candidate = path.join(cache, version, 'bin', 'helm');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(
    `no helm binary: set HELM, or run \`scripts/dev-cluster tools\` (builds helm into ${cache}/<version>/bin)`,
  );
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function helm(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(findHelm(), args, { env, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : 1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? '',
    };
  }
}

/** A Kubernetes object as rendered; fields are reached with the small accessors below. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`helm rendered invalid YAML: ${doc.errors[0]!.message}`);
      return doc.toJS() as Manifest | null;
    })
    .filter((doc): doc is Manifest => doc !== null);
}

export const RELEASE = 'cf';
export const NAMESPACE = 'ci-fixer-render';

/** `helm template` with --set pairs and values files (relative to chart/); throws with helm's message on failure. */
export async function render(
  options: { set?: string[]; files?: string[]; namespace?: string } = {},
): Promise<Manifest[]> {
  const result = await helm(templateArgs(options));
  if (result.code !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
  return parseManifests(result.stdout);
}

export function templateArgs(
  options: { set?: string[]; files?: string[]; namespace?: string } = {},
): string[] {
  return [
    'template',
    RELEASE,
    CHART_DIR,
    '--namespace',
    options.namespace ?? NAMESPACE,
    ...(options.files ?? []).flatMap((file) => ['-f', path.join(CHART_DIR, file)]),
    ...(options.set ?? []).flatMap((pair) => ['--set', pair]),
  ];
}

export function find(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) {
    throw new Error(
      `no ${kind} ${name} among: ${manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')}`,
    );
  }
  return found;
}

export interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number }; exec?: { command: string[] } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  command?: string[];
  args?: string[];
}

export interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  containers: Container[];
}

export function podSpec(workload: Manifest): PodSpec {
  if (workload.kind === 'Pod') return workload.spec as PodSpec;
  return (workload.spec as { template: { spec: PodSpec } }).template.spec;
}

/** A Redis started from a deployment's own start script (chart or compose), on a unix socket the test owns. */
export interface ScriptedRedis {
  /** redis-cli against it; `password` as REDISCLI_AUTH when given. */
  cli(args: string[], password?: string): Promise<string>;
  /** The redis-server process's command line, as any process on the host could read it. */
  cmdline(): string;
  stop(): Promise<void>;
}

/**
 * Runs `script` (a `sh -c` start script from the chart or docker-compose.yml) with the host's redis-server
 * and REDIS_PASSWORD set, with `--dir /data` swapped for a temporary directory plus `--port 0 --unixsocket`:
 * no TCP port, nothing shared. Proves the script's redis.conf-on-stdin really configures Redis.
 */
export async function startScriptedRedis(script: string, password: string): Promise<ScriptedRedis> {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, readFileSync, rmSync, existsSync: exists } = await import('node:fs');
  const { waitFor } = await import('../support/processes.ts');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cif-redis-'));
  const socket = path.join(dir, 'redis.sock');
  const local = script.replace('--dir /data', `--dir ${dir} --port 0 --unixsocket ${socket}`);
  if (local === script)
    throw new Error(`the Redis start script has no "--dir /data" to redirect:\n${script}`);
  const child = spawn('sh', ['-c', local], {
    env: { PATH: process.env.PATH, REDIS_PASSWORD: password },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitFor(`redis-server on ${socket} (${stderr})`, () => (exists(socket) ? true : undefined), {
      timeoutMs: 15_000,
    });
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    async cli(args, pass) {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
      if (pass) env.REDISCLI_AUTH = pass;
      const { stdout } = await run('redis-cli', ['-s', socket, ...args], { env });
      return stdout.trim();
    },
    // `exec` in the script: the shell's pid is redis-server's.
    cmdline: () => readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').replaceAll('\0', ' '),
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

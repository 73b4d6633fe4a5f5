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

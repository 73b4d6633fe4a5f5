/**
 * The dev cluster (scripts/dev-cluster: a real kube-apiserver, controller-manager and scheduler with one
 * KWOK node) as the Kubernetes driver's tests see it. Tests act as the worker ServiceAccount, with exactly
 * the Role in chart/files/worker-role-rules.yaml; the admin kubeconfig only sets up and inspects.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { KubernetesDriver, type KubernetesDriverOptions } from '../src/kubernetes/index.ts';

const SCRIPT = path.resolve(import.meta.dirname, '../../../scripts/dev-cluster');

export interface DevCluster {
  env: Record<string, string>;
  worker: KubeConfig;
  admin: KubeConfig;
  namespace: string;
  workspaceDir: string;
}

function clusterEnv(admin: boolean): Record<string, string> {
  const output = execFileSync(SCRIPT, admin ? ['env', '--admin'] : ['env'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const env: Record<string, string> = {};
  for (const line of output.split('\n')) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match) env[match[1]!] = match[2]!;
  }
  return env;
}

function kubeConfigFrom(file: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(file);
  return config;
}

let cached: Promise<DevCluster> | undefined;

/** The running dev cluster; fails (never skips) with what to run when it is not up. */
export function devCluster(): Promise<DevCluster> {
  return (cached ??= (async () => {
    let env: Record<string, string>;
    let adminEnv: Record<string, string>;
    try {
      env = clusterEnv(false);
      adminEnv = clusterEnv(true);
    } catch (error) {
      throw new Error(
        `the Kubernetes driver tests need the dev cluster: run \`scripts/dev-cluster up\` first (${(error as { stderr?: string }).stderr?.trim() ?? String(error)})`,
        { cause: error },
      );
    }
    const cluster: DevCluster = {
      env,
      worker: kubeConfigFrom(env.KUBECONFIG!),
      admin: kubeConfigFrom(adminEnv.KUBECONFIG!),
      namespace: env.K8S_NAMESPACE!,
      workspaceDir: env.K8S_WORKSPACE_DIR!,
    };
    try {
      await cluster.worker
        .makeApiClient(CoreV1Api)
        .listNamespacedPod({ namespace: cluster.namespace, limit: 1 });
    } catch (error) {
      throw new Error(
        `the dev cluster is not reachable at ${cluster.worker.getCurrentCluster()?.server}: run \`scripts/dev-cluster up\` (${error instanceof Error ? error.message : String(error)})`,
        { cause: error },
      );
    }
    return cluster;
  })());
}

/** A driver acting as the worker ServiceAccount on the dev cluster. */
export async function workerDriver(options: KubernetesDriverOptions = {}): Promise<KubernetesDriver> {
  const cluster = await devCluster();
  return new KubernetesDriver({
    kubeConfig: cluster.worker,
    namespace: cluster.namespace,
    workspaceDir: cluster.workspaceDir,
    image: 'ci-fixer/sandbox:test',
    podReadyTimeoutMs: 30_000,
    ...options,
  });
}

/** How scripts/dev-cluster marks its real node (kubelet + containerd + runc); see docs/dev-cluster.md. */
export const REAL_NODE = {
  label: { 'ci-fixer.dev/node': 'real' },
  toleration: { key: 'ci-fixer.dev/real-node', operator: 'Exists', effect: 'NoSchedule' },
  /** The test busybox imported from podman; a tag other than `latest` means pull policy IfNotPresent. */
  image: 'ci-fixer/test-busybox:dev-cluster',
} as const;

/** The real node's name once it is Ready; fails (never skips) with the reason `up` recorded. */
export async function realNode(): Promise<string> {
  const cluster = await devCluster();
  const nodes = await cluster.admin
    .makeApiClient(CoreV1Api)
    .listNode({ labelSelector: 'ci-fixer.dev/node=real' });
  const ready = nodes.items.find((node) =>
    node.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True'),
  );
  if (ready) return ready.metadata!.name!;
  let reason = 'no node labelled ci-fixer.dev/node=real is Ready';
  try {
    const stateDir = path.dirname(cluster.env.KUBECONFIG!);
    reason = readFileSync(path.join(stateDir, 'real-node', 'unavailable'), 'utf8').trim();
  } catch {
    // No recorded reason: the node was started but is not Ready (see the kubelet log in the state dir).
  }
  throw new Error(
    `these tests need the dev cluster's real node (scripts/dev-cluster up starts it where the machine allows): ${reason}`,
  );
}

/** A driver acting as the worker ServiceAccount whose sandboxes run in real containers on the real node. */
export async function realNodeDriver(options: KubernetesDriverOptions = {}): Promise<KubernetesDriver> {
  await realNode();
  return workerDriver({
    // A real pod mounts an emptyDir here (the KWOK node needs a host path instead).
    workspaceDir: '/workspace',
    image: REAL_NODE.image,
    nodeSelector: { ...REAL_NODE.label },
    tolerations: [{ ...REAL_NODE.toleration }],
    // The node has this machine's 2 cores: the driver's default request (2 CPUs) would fit one sandbox.
    cpus: 0.25,
    memoryBytes: 256 * 1_048_576,
    ...options,
  });
}

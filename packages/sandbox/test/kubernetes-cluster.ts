/**
 * The dev cluster (scripts/dev-cluster: a real kube-apiserver, controller-manager and scheduler with one
 * KWOK node) as the Kubernetes driver's tests see it. Tests act as the worker ServiceAccount, with exactly
 * the Role in chart/files/worker-role-rules.yaml; the admin kubeconfig only sets up and inspects.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { KubernetesDriver, type KubernetesDriverOptions } from '../src/index.ts';

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

import path from 'node:path';
import type { Config } from '@ci-fixer/config';
import type { SandboxDriver, SandboxLimits } from './types.ts';
import { defaultLocalRoot } from './local/root.ts';

/**
 * The sandbox driver SANDBOX_DRIVER names, configured from the SANDBOX_* settings: the one factory worker,
 * CLI and benchmarks share. Each driver's module (and its client library) is loaded only when chosen.
 * Local sandboxes of one deployment live under a root of their own, so that owners never mix.
 */
export async function createDriver(config: Config, deployment: string): Promise<SandboxDriver> {
  switch (config.SANDBOX_DRIVER) {
    case 'local': {
      const { LocalDriver } = await import('./local/driver.ts');
      return new LocalDriver({
        root: path.join(config.SANDBOX_LOCAL_ROOT ?? defaultLocalRoot(), deployment),
        isolation: config.SANDBOX_ISOLATION,
        limits: sandboxLimits(config),
        defaultTimeoutMs: config.SANDBOX_COMMAND_TIMEOUT_SECONDS * 1000,
        defaultMaxOutputBytes: config.SANDBOX_MAX_OUTPUT_BYTES,
      });
    }
    case 'docker': {
      const { DockerDriver } = await import('./docker/driver.ts');
      return new DockerDriver({
        image: config.SANDBOX_IMAGE,
        ...(config.SANDBOX_EGRESS_DIR ? { egressDir: config.SANDBOX_EGRESS_DIR } : {}),
        user: config.SANDBOX_USER,
        limits: { cpus: config.SANDBOX_CPUS, ...sandboxLimits(config) },
        defaultTimeoutMs: config.SANDBOX_COMMAND_TIMEOUT_SECONDS * 1000,
        defaultMaxOutputBytes: config.SANDBOX_MAX_OUTPUT_BYTES,
      });
    }
    case 'kubernetes': {
      // KUBECONFIG, or the in-cluster ServiceAccount when the worker runs in a pod.
      const { KubernetesDriver } = await import('./kubernetes/driver.ts');
      return new KubernetesDriver({
        namespace: config.K8S_NAMESPACE,
        image: config.SANDBOX_IMAGE,
        serviceAccountName: config.K8S_SANDBOX_SERVICE_ACCOUNT,
        user: config.SANDBOX_USER,
        workspaceDir: config.K8S_WORKSPACE_DIR,
        cpus: config.SANDBOX_CPUS,
        memoryBytes: config.SANDBOX_MEMORY_MB * 1_048_576,
        ephemeralStorageBytes: config.K8S_EPHEMERAL_STORAGE_MB * 1_048_576,
        ttlSecondsAfterFinished: config.K8S_TTL_SECONDS_AFTER_FINISHED,
        podReadyTimeoutMs: config.K8S_POD_READY_TIMEOUT_SECONDS * 1000,
        requireNetworkPolicy: config.K8S_REQUIRE_NETWORK_POLICY,
        ...(config.K8S_EGRESS_PROXY && config.SANDBOX_EGRESS_PROXY_KEY
          ? { egressProxy: { address: config.K8S_EGRESS_PROXY, key: config.SANDBOX_EGRESS_PROXY_KEY } }
          : {}),
        ...(config.K8S_RUNTIME_CLASS ? { runtimeClassName: config.K8S_RUNTIME_CLASS } : {}),
        ...(config.K8S_PRIORITY_CLASS ? { priorityClassName: config.K8S_PRIORITY_CLASS } : {}),
        ...(config.K8S_NODE_SELECTOR ? { nodeSelector: config.K8S_NODE_SELECTOR } : {}),
        ...(config.K8S_TOLERATIONS ? { tolerations: config.K8S_TOLERATIONS } : {}),
        ...(config.K8S_IMAGE_PULL_SECRETS ? { imagePullSecrets: config.K8S_IMAGE_PULL_SECRETS } : {}),
        defaultTimeoutMs: config.SANDBOX_COMMAND_TIMEOUT_SECONDS * 1000,
        defaultMaxOutputBytes: config.SANDBOX_MAX_OUTPUT_BYTES,
      });
    }
  }
}

/**
 * The memory, pids and disk limits SANDBOX_* configure, as the driver applies them and the fix engine names
 * them in kill reasons: one mapping, so that a reason never quotes a size the sandbox did not have.
 */
export function sandboxLimits(config: Config): SandboxLimits {
  return {
    memoryBytes: config.SANDBOX_MEMORY_MB * 1_048_576,
    pids: config.SANDBOX_PIDS,
    diskBytes: config.SANDBOX_DISK_MB * 1_048_576,
  };
}

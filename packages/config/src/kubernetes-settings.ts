import { z } from 'zod';
import { bool, int, jsonTolerations, keyValueList, nameList } from './fields.ts';

/** The kubernetes driver: namespace, pod settings, NetworkPolicy check and the egress proxy. */
export const kubernetesSettings = {
  K8S_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Kubernetes namespace name')
    .default('ci-fixer-sandboxes')
    .describe(
      'Namespace the kubernetes driver creates one Job per sandbox in; the worker Role is bound there.',
    ),
  K8S_SANDBOX_SERVICE_ACCOUNT: z
    .string()
    .min(1)
    .default('ci-fixer-sandbox')
    .describe('ServiceAccount of sandbox pods: one with no permissions; its token is never mounted.'),
  K8S_WORKSPACE_DIR: z
    .string()
    .regex(/^\//, 'must be an absolute path')
    .default('/workspace')
    .describe(
      'Directory in the sandbox pod (an emptyDir) under which each sandbox gets <id>/workspace, home and tmp.',
    ),
  K8S_TTL_SECONDS_AFTER_FINISHED: int(
    'Seconds after a sandbox Job finishes (its keep-alive ended) before Kubernetes deletes it.',
    300,
    0,
    604_800,
  ),
  K8S_POD_READY_TIMEOUT_SECONDS: int(
    'How long creating a sandbox waits for its pod to run (scheduling, image pull) before failing with the cause.',
    120,
    1,
    3600,
  ),
  K8S_EPHEMERAL_STORAGE_MB: int(
    'Ephemeral-storage request and limit of a sandbox pod (workspace, /tmp, container layer); 0 sets none.',
    10_240,
    0,
    10_485_760,
  ),
  K8S_RUNTIME_CLASS: z
    .string()
    .min(1)
    .optional()
    .describe(
      'runtimeClassName of sandbox pods, e.g. `gvisor` or `kata`, for a stronger boundary than runc.',
    ),
  K8S_PRIORITY_CLASS: z.string().min(1).optional().describe('priorityClassName of sandbox pods.'),
  K8S_NODE_SELECTOR: keyValueList
    .optional()
    .describe('nodeSelector of sandbox pods as comma-separated key=value pairs, e.g. `pool=sandboxes`.'),
  K8S_TOLERATIONS: jsonTolerations
    .optional()
    .describe(
      'Tolerations of sandbox pods as a JSON array, e.g. `[{"key":"sandbox","operator":"Exists","effect":"NoSchedule"}]`.',
    ),
  K8S_REQUIRE_NETWORK_POLICY: bool(
    'The kubernetes driver refuses to start unless NetworkPolicies in K8S_NAMESPACE confine sandbox pods (deny ingress; egress none or public only). false only where another control confines them.',
    true,
  ),
  K8S_EGRESS_PROXY: z
    .string()
    .regex(/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):\d{1,5}$/i, 'must be host:port')
    .optional()
    .describe(
      'host:port of the egress proxy (the chart sets its Service): sandbox pods with egress reach the network only through it, which lets each reach only its allow-list. The worker resolves the name, so sandbox pods need no DNS. Unset: the kubernetes driver refuses sandboxes with egress.',
    ),
  SANDBOX_EGRESS_PROXY_KEY: z
    .string()
    .min(32, 'must be at least 32 characters; generate one with `openssl rand -hex 32`')
    .optional()
    .describe(
      "Key the worker signs each kubernetes sandbox's egress credential (its allow-list and expiry) with and the egress proxy verifies it with (HMAC-SHA256). The same value on workers and the proxy; the chart generates one.",
    ),
  EGRESS_PROXY_PORT: int(
    'Port the kubernetes egress proxy (apps/worker/src/egress-proxy.ts) listens on.',
    3128,
    1,
    65535,
  ),
  K8S_IMAGE_PULL_SECRETS: nameList
    .optional()
    .describe('Comma-separated Secret names (in K8S_NAMESPACE) sandbox pods pull SANDBOX_IMAGE with.'),
};

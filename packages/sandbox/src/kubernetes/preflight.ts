import {
  AuthorizationV1Api,
  NetworkingV1Api,
  type KubeConfig,
  type V1LabelSelector,
  type V1NetworkPolicy,
} from '@kubernetes/client-node';
import { LABELS, MANAGED_BY } from '../labels.ts';
import { SandboxError } from '../types.ts';
import { APP_LABELS, NETWORK_LABEL, NETWORK_MODES, type NetworkMode } from './job-spec.ts';

export interface Permission {
  group: string;
  resource: string;
  subresource?: string;
  verb: string;
}

/**
 * Every permission the kubernetes driver uses, in the sandbox namespace. It must match the worker Role in
 * chart/files/worker-role-rules.yaml (a test holds them equal).
 */
export const REQUIRED_PERMISSIONS: readonly Permission[] = [
  ...['get', 'list', 'watch', 'create', 'delete'].map((verb) => ({ group: 'batch', resource: 'jobs', verb })),
  ...['get', 'list', 'watch'].map((verb) => ({ group: '', resource: 'pods', verb })),
  // The exec WebSocket upgrade is a GET; Kubernetes 1.35+ also checks create.
  ...['get', 'create'].map((verb) => ({ group: '', resource: 'pods', subresource: 'exec', verb })),
  { group: '', resource: 'pods', subresource: 'log', verb: 'get' },
  ...['list', 'watch'].map((verb) => ({ group: '', resource: 'events', verb })),
  // Read-only, for the NetworkPolicy check below: the worker must not run sandboxes nothing confines.
  ...['get', 'list'].map((verb) => ({ group: 'networking.k8s.io', resource: 'networkpolicies', verb })),
];

export interface PreflightOptions {
  /** K8S_REQUIRE_NETWORK_POLICY: fail unless NetworkPolicies confine sandbox pods (default true). */
  requireNetworkPolicy?: boolean;
}

export function describePermission(permission: Permission): string {
  const resource = permission.subresource
    ? `${permission.resource}/${permission.subresource}`
    : permission.resource;
  return `${permission.verb} ${permission.group ? `${permission.group}/` : ''}${resource}`;
}

/**
 * Asks the API server, with one SelfSubjectAccessReview per permission, whether this identity may do
 * everything the driver does in `namespace`; throws one error that names every missing permission.
 */
export async function preflightKubernetes(
  kubeConfig: KubeConfig,
  namespace: string,
  options: PreflightOptions = {},
): Promise<void> {
  await preflightPermissions(kubeConfig, namespace);
  if (options.requireNetworkPolicy ?? true) await preflightNetworkPolicies(kubeConfig, namespace);
}

async function preflightPermissions(kubeConfig: KubeConfig, namespace: string): Promise<void> {
  const api = kubeConfig.makeApiClient(AuthorizationV1Api);
  const missing: string[] = [];
  await Promise.all(
    REQUIRED_PERMISSIONS.map(async (permission) => {
      const review = await api
        .createSelfSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: {
              resourceAttributes: {
                namespace,
                group: permission.group,
                resource: permission.resource,
                ...(permission.subresource ? { subresource: permission.subresource } : {}),
                verb: permission.verb,
              },
            },
          },
        })
        .catch((error: unknown) => {
          const server = kubeConfig.getCurrentCluster()?.server ?? 'the API server';
          throw new SandboxError(
            `kubernetes preflight: cannot ask ${server} what the worker may do (${error instanceof Error ? error.message : String(error)}). ` +
              'Check KUBECONFIG (or the in-cluster ServiceAccount) and that the API server is reachable.',
            { cause: error },
          );
        });
      if (!review.status?.allowed) missing.push(describePermission(permission));
    }),
  );
  if (missing.length > 0) {
    const user = kubeConfig.getCurrentUser()?.name ?? 'the current user';
    throw new SandboxError(
      `kubernetes preflight: ${user} lacks ${missing.length} permission(s) in namespace ${namespace}: ` +
        `${missing.sort().join(', ')}. Bind the worker Role from chart/files/worker-role-rules.yaml to it in that namespace.`,
    );
  }
}

/** The labels every sandbox pod of a network mode carries whatever its job (owner, fix job, deployment vary). */
export function sandboxPodLabels(mode: NetworkMode): Record<string, string> {
  return { ...APP_LABELS, [LABELS.managedBy]: MANAGED_BY, [NETWORK_LABEL]: mode };
}

/** Whether a Kubernetes label selector selects a pod with `labels` (an empty selector selects every pod). */
export function selects(selector: V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector?.matchExpressions ?? []) {
    const value = labels[key];
    const ok =
      operator === 'In'
        ? value !== undefined && values.includes(value)
        : operator === 'NotIn'
          ? value === undefined || !values.includes(value)
          : operator === 'Exists'
            ? value !== undefined
            : operator === 'DoesNotExist'
              ? value === undefined
              : false; // an operator this code does not know: do not count the policy
    if (!ok) return false;
  }
  return true;
}

/** The policy types a NetworkPolicy applies, with the API's default when the field is absent. */
function policyTypes(policy: V1NetworkPolicy): string[] {
  const types = policy.spec?.policyTypes;
  if (types?.length) return types;
  return policy.spec?.egress?.length ? ['Ingress', 'Egress'] : ['Ingress'];
}

/**
 * What is wrong with the NetworkPolicies of the sandbox namespace, or [] when they confine sandbox pods:
 * every network mode's pods are selected by a policy that restricts Ingress and one that restricts Egress,
 * and no policy gives a `none` pod any egress rule (its traffic must be denied entirely). This checks the
 * policies the API server holds; enforcing them is the CNI's job (docs/sandbox.md).
 */
export function networkPolicyGaps(policies: readonly V1NetworkPolicy[]): string[] {
  const gaps: string[] = [];
  for (const mode of NETWORK_MODES) {
    const labels = sandboxPodLabels(mode);
    const selecting = policies.filter((policy) => selects(policy.spec?.podSelector, labels));
    for (const type of ['Ingress', 'Egress']) {
      if (!selecting.some((policy) => policyTypes(policy).includes(type)))
        gaps.push(
          `no NetworkPolicy restricts ${type.toLowerCase()} of ${NETWORK_LABEL}=${mode} sandbox pods`,
        );
    }
    if (mode === 'none') {
      for (const policy of selecting) {
        if (policyTypes(policy).includes('Egress') && policy.spec?.egress?.length)
          gaps.push(
            `NetworkPolicy ${policy.metadata?.name} allows egress to ${NETWORK_LABEL}=none sandbox pods, which must have none`,
          );
      }
    }
  }
  return gaps;
}

async function preflightNetworkPolicies(kubeConfig: KubeConfig, namespace: string): Promise<void> {
  const list = await kubeConfig
    .makeApiClient(NetworkingV1Api)
    .listNamespacedNetworkPolicy({ namespace })
    .catch((error: unknown) => {
      throw new SandboxError(
        `kubernetes preflight: cannot list NetworkPolicies in namespace ${namespace} (${error instanceof Error ? error.message : String(error)}).`,
        { cause: error },
      );
    });
  const gaps = networkPolicyGaps(list.items);
  if (gaps.length > 0) {
    throw new SandboxError(
      `kubernetes preflight: sandbox pods in namespace ${namespace} would not be confined: ${gaps.join('; ')}. ` +
        'Repository code in them could reach the platform (Redis, the API) and the cluster network. ' +
        'Install the Helm chart with sandbox.networkPolicy.enabled=true (the default) or apply equivalent policies ' +
        '(docs/sandbox.md), and use a CNI that enforces NetworkPolicy; or set K8S_REQUIRE_NETWORK_POLICY=false to run without them.',
    );
  }
}

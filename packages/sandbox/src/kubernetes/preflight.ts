import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { SandboxError } from '../types.ts';

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
];

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
export async function preflightKubernetes(kubeConfig: KubeConfig, namespace: string): Promise<void> {
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

/**
 * Least privilege, proven against the dev cluster's real API server and RBAC: what the worker
 * ServiceAccount may not do, and the preflight that names every permission it lacks.
 * Needs `scripts/dev-cluster up`.
 */
import { randomBytes } from 'node:crypto';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  RbacAuthorizationV1Api,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS, MANAGED_BY } from '../src/index.ts';
import {
  describePermission,
  KubernetesDriver,
  preflightKubernetes,
  REQUIRED_PERMISSIONS,
  type Permission,
} from '../src/kubernetes/index.ts';
import { devCluster, type DevCluster } from './kubernetes-cluster.ts';

let cluster: DevCluster;
beforeAll(async () => {
  cluster = await devCluster();
});

/** The HTTP status an API call failed with. */
async function statusOf(call: () => Promise<unknown>): Promise<number | 'ok'> {
  try {
    await call();
    return 'ok';
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

describe('the worker ServiceAccount (chart/files/worker-role-rules.yaml) is refused', () => {
  const core = () => cluster.worker.makeApiClient(CoreV1Api);
  const batch = () => cluster.worker.makeApiClient(BatchV1Api);
  const apps = () => cluster.worker.makeApiClient(AppsV1Api);
  const rbac = () => cluster.worker.makeApiClient(RbacAuthorizationV1Api);
  const ns = () => cluster.namespace;

  it.each<[string, () => Promise<unknown>]>([
    ['listing Secrets in the sandbox namespace', () => core().listNamespacedSecret({ namespace: ns() })],
    [
      'reading a Secret in the release namespace',
      () => core().readNamespacedSecret({ name: 'x', namespace: 'ci-fixer' }),
    ],
    [
      'creating a Secret',
      () => core().createNamespacedSecret({ namespace: ns(), body: { metadata: { name: 'stolen' } } }),
    ],
    ['listing pods in another namespace', () => core().listNamespacedPod({ namespace: 'ci-fixer' })],
    ['listing pods in kube-system', () => core().listNamespacedPod({ namespace: 'kube-system' })],
    ['listing Jobs in default', () => batch().listNamespacedJob({ namespace: 'default' })],
    ['listing nodes (cluster-scoped)', () => core().listNode()],
    ['listing namespaces (cluster-scoped)', () => core().listNamespace()],
    ['listing ClusterRoles (cluster-scoped)', () => rbac().listClusterRole()],
    ['listing ConfigMaps (unused by the driver)', () => core().listNamespacedConfigMap({ namespace: ns() })],
    [
      'listing Deployments (unused by the driver)',
      () => apps().listNamespacedDeployment({ namespace: ns() }),
    ],
    [
      'creating a Deployment',
      () =>
        apps().createNamespacedDeployment({
          namespace: ns(),
          body: { metadata: { name: 'nope' }, spec: { selector: {}, template: {} } },
        }),
    ],
    [
      'creating a pod directly (only through a Job)',
      () =>
        core().createNamespacedPod({
          namespace: ns(),
          body: { metadata: { name: 'nope' }, spec: { containers: [{ name: 'c', image: 'x' }] } },
        }),
    ],
    [
      'deleting pods (the garbage collector does)',
      () => core().deleteCollectionNamespacedPod({ namespace: ns() }),
    ],
    ['changing its own Role', () => rbac().listNamespacedRole({ namespace: ns() })],
  ])('%s', async (_name, call) => {
    expect(await statusOf(call)).toBe(403);
  });

  it('but may do what the driver needs (the controls above are not vacuous)', async () => {
    expect(await statusOf(() => batch().listNamespacedJob({ namespace: ns() }))).toBe('ok');
    expect(await statusOf(() => core().listNamespacedPod({ namespace: ns() }))).toBe('ok');
    expect(await statusOf(() => core().listNamespacedEvent({ namespace: ns() }))).toBe('ok');
  });
});

describe('preflight', () => {
  const created: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const undo of created.reverse()) await undo().catch(() => {});
  });

  /** A kubeconfig for a fresh ServiceAccount in the sandbox namespace, bound to a Role with `rules` if given. */
  async function identity(rules?: V1PolicyRule[]): Promise<KubeConfig> {
    const name = `cif-test-${randomBytes(3).toString('hex')}`;
    const namespace = cluster.namespace;
    const core = cluster.admin.makeApiClient(CoreV1Api);
    const rbac = cluster.admin.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    created.push(() => core.deleteNamespacedServiceAccount({ name, namespace }));
    if (rules) {
      await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
      created.push(() => rbac.deleteNamespacedRole({ name, namespace }));
      await rbac.createNamespacedRoleBinding({
        namespace,
        body: {
          metadata: { name },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
          subjects: [{ kind: 'ServiceAccount', name, namespace }],
        },
      });
      created.push(() => rbac.deleteNamespacedRoleBinding({ name, namespace }));
    }
    const token = await core.createNamespacedServiceAccountToken({
      name,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const server = cluster.worker.getCurrentCluster()!;
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: 'dev', server: server.server, caData: server.caData, caFile: server.caFile }],
      users: [{ name: `system:serviceaccount:${namespace}:${name}`, token: token.status!.token }],
      contexts: [{ name: 'dev', cluster: 'dev', user: `system:serviceaccount:${namespace}:${name}` }],
      currentContext: 'dev',
    });
    return config;
  }

  const rulesFor = (permissions: readonly Permission[]): V1PolicyRule[] =>
    permissions.map((permission) => ({
      apiGroups: [permission.group],
      resources: [
        permission.subresource ? `${permission.resource}/${permission.subresource}` : permission.resource,
      ],
      verbs: [permission.verb],
    }));

  it('passes for the worker ServiceAccount with the NetworkPolicies scripts/dev-cluster applies', async () => {
    // `up` applies the chart's sandbox policies (scripts/dev-cluster.d/sandbox-networkpolicies.yaml), as an
    // install of the chart would: the driver's preflight must pass with no K8S_REQUIRE_NETWORK_POLICY=false.
    const policies = await cluster.admin
      .makeApiClient(NetworkingV1Api)
      .listNamespacedNetworkPolicy({ namespace: cluster.namespace });
    expect(policies.items.map((policy) => policy.metadata?.name).sort()).toEqual(
      expect.arrayContaining(['ci-fixer-sandbox-deny', 'ci-fixer-sandbox-egress']),
    );
    await expect(preflightKubernetes(cluster.worker, cluster.namespace)).resolves.toBeUndefined();
  });

  it('names every missing permission of an account with no Role, in one error', async () => {
    const error = await preflightKubernetes(await identity(), cluster.namespace).then(
      () => undefined,
      (caught: Error) => caught,
    );
    expect(error?.message).toContain(
      `lacks ${REQUIRED_PERMISSIONS.length} permission(s) in namespace ${cluster.namespace}:`,
    );
    for (const permission of REQUIRED_PERMISSIONS)
      expect(error?.message).toContain(describePermission(permission));
  });

  it('names exactly the one permission missing, and exec says which verb it needs', async () => {
    const execCreate = REQUIRED_PERMISSIONS.find((p) => p.subresource === 'exec' && p.verb === 'create')!;
    const kubeConfig = await identity(rulesFor(REQUIRED_PERMISSIONS.filter((p) => p !== execCreate)));
    await expect(preflightKubernetes(kubeConfig, cluster.namespace)).rejects.toThrow(
      /lacks 1 permission\(s\) in namespace ci-fixer-sandboxes: create pods\/exec\./,
    );
    // Without the preflight, the first exec fails with a bare 403; the driver names the verb itself.
    const driver = new KubernetesDriver({
      kubeConfig,
      namespace: cluster.namespace,
      workspaceDir: cluster.workspaceDir,
      image: 'ci-fixer/sandbox:test',
    });
    const sandbox = await driver.create({
      labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: 'rbac-test' },
    });
    try {
      await expect(sandbox.exec(['true'])).rejects.toThrow(/403.*"get" and "create" on pods\/exec/);
    } finally {
      await sandbox.destroy();
    }
  });

  it('asks for exactly the rules of the worker Role (chart/files/worker-role-rules.yaml, applied by dev-cluster)', async () => {
    const role = await cluster.admin
      .makeApiClient(RbacAuthorizationV1Api)
      .readNamespacedRole({ name: 'ci-fixer-worker', namespace: cluster.namespace });
    const granted = (role.rules ?? []).flatMap((rule) =>
      (rule.apiGroups ?? []).flatMap((group) =>
        (rule.resources ?? []).flatMap((resource) =>
          (rule.verbs ?? []).map((verb) => `${verb} ${group}/${resource}`),
        ),
      ),
    );
    const required = REQUIRED_PERMISSIONS.map(
      (p) => `${p.verb} ${p.group}/${p.subresource ? `${p.resource}/${p.subresource}` : p.resource}`,
    );
    // A mismatch after a change to the rules file: `scripts/dev-cluster up` applies the file again.
    expect(granted.sort(), 'the dev cluster applies worker-role-rules.yaml on `up`').toEqual(required.sort());
  });
});

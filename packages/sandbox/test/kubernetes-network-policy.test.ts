/**
 * The kubernetes driver fails closed on the network: its preflight refuses to run sandboxes unless
 * NetworkPolicies in the namespace confine them, against the dev cluster's real apiserver. Each test gets a
 * namespace of its own (created and deleted here with the admin kubeconfig) and an identity with exactly
 * REQUIRED_PERMISSIONS, so that nothing shared is touched.
 *
 * What this does not prove: that traffic is blocked. These pods land on the KWOK node, which has no network at
 * all. The dev cluster's real node enforces the chart's policies (kube-network-policies), and
 * test/security/kubernetes.attacks.test.ts proves from inside sandbox pods there what they block and allow.
 */
import { randomBytes } from 'node:crypto';
import {
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  RbacAuthorizationV1Api,
  type V1NetworkPolicy,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS, MANAGED_BY, SandboxError } from '../src/index.ts';
import { KubernetesDriver, REQUIRED_PERMISSIONS } from '../src/kubernetes/index.ts';
import { NETWORK_LABEL } from '../src/kubernetes/job-spec.ts';
import { devCluster, type DevCluster } from './kubernetes-cluster.ts';

let cluster: DevCluster;
let namespace: string;
let identity: KubeConfig;

/** The policies the chart renders by default (chart/templates/sandbox-networkpolicy.yaml), in short. */
const DENY_ALL: V1NetworkPolicy = {
  metadata: { name: 'sandbox-deny' },
  spec: {
    podSelector: { matchLabels: { [LABELS.managedBy]: MANAGED_BY } },
    policyTypes: ['Ingress', 'Egress'],
  },
};
const EGRESS_PUBLIC: V1NetworkPolicy = {
  metadata: { name: 'sandbox-egress' },
  spec: {
    podSelector: { matchLabels: { [LABELS.managedBy]: MANAGED_BY, [NETWORK_LABEL]: 'egress' } },
    policyTypes: ['Egress'],
    egress: [
      {
        to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }],
        ports: [{ protocol: 'TCP', port: 443 }],
      },
    ],
  },
};
/** A policy that would let every sandbox pod, network=none ones too, talk to anything. */
const ALLOW_ALL_EGRESS: V1NetworkPolicy = {
  metadata: { name: 'sandbox-allow-all' },
  spec: {
    podSelector: { matchLabels: { [LABELS.managedBy]: MANAGED_BY } },
    policyTypes: ['Ingress', 'Egress'],
    egress: [{}],
  },
};

const networking = () => cluster.admin.makeApiClient(NetworkingV1Api);

async function setPolicies(policies: V1NetworkPolicy[]): Promise<void> {
  await networking().deleteCollectionNamespacedNetworkPolicy({ namespace });
  for (const body of policies) await networking().createNamespacedNetworkPolicy({ namespace, body });
}

function driver(options: { requireNetworkPolicy?: boolean } = {}): KubernetesDriver {
  return new KubernetesDriver({
    kubeConfig: identity,
    namespace,
    workspaceDir: cluster.workspaceDir,
    image: 'ci-fixer/sandbox:test',
    podReadyTimeoutMs: 30_000,
    ...options,
  });
}

async function preflightError(options: { requireNetworkPolicy?: boolean } = {}): Promise<Error | undefined> {
  return driver(options)
    .preflight()
    .then(
      () => undefined,
      (error: Error) => error,
    );
}

beforeAll(async () => {
  cluster = await devCluster();
  namespace = `cif-netpol-${randomBytes(3).toString('hex')}`;
  const core = cluster.admin.makeApiClient(CoreV1Api);
  const rbac = cluster.admin.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const name = 'netpol-test-worker';
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  // The sandbox pods' own account; its token is never mounted.
  await core.createNamespacedServiceAccount({
    namespace,
    body: { metadata: { name: 'ci-fixer-sandbox' }, automountServiceAccountToken: false },
  });
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name },
      rules: REQUIRED_PERMISSIONS.map((p) => ({
        apiGroups: [p.group],
        resources: [p.subresource ? `${p.resource}/${p.subresource}` : p.resource],
        verbs: [p.verb],
      })),
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  });
  const token = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const server = cluster.worker.getCurrentCluster()!;
  identity = new KubeConfig();
  identity.loadFromOptions({
    clusters: [{ name: 'dev', server: server.server, caData: server.caData, caFile: server.caFile }],
    users: [{ name, token: token.status!.token }],
    contexts: [{ name: 'dev', cluster: 'dev', user: name }],
    currentContext: 'dev',
  });
}, 60_000);

afterAll(async () => {
  if (namespace) await cluster.admin.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace });
});

describe('the kubernetes preflight and NetworkPolicies', () => {
  it('fails closed in a namespace without NetworkPolicies, naming every gap and the way out', async () => {
    await setPolicies([]);
    const error = await preflightError();
    expect(error).toBeInstanceOf(SandboxError);
    expect(error?.message).toContain(`sandbox pods in namespace ${namespace} would not be confined`);
    for (const mode of ['none', 'egress'])
      for (const direction of ['ingress', 'egress'])
        expect(error?.message).toContain(
          `no NetworkPolicy restricts ${direction} of ${NETWORK_LABEL}=${mode} sandbox pods`,
        );
    expect(error?.message).toContain('sandbox.networkPolicy.enabled=true');
    expect(error?.message).toContain('K8S_REQUIRE_NETWORK_POLICY=false');
  });

  it('passes once the chart’s policies exist (the apiserver accepts them), and with the default-deny alone', async () => {
    await setPolicies([DENY_ALL, EGRESS_PUBLIC]);
    expect(await preflightError()).toBeUndefined();
    await setPolicies([DENY_ALL]);
    expect(await preflightError()).toBeUndefined();
  });

  it('fails when only egress pods are covered: network=none pods would be unconfined', async () => {
    await setPolicies([EGRESS_PUBLIC]);
    const error = await preflightError();
    expect(error?.message).toContain(
      `no NetworkPolicy restricts egress of ${NETWORK_LABEL}=none sandbox pods`,
    );
    expect(error?.message).toContain(
      `no NetworkPolicy restricts ingress of ${NETWORK_LABEL}=egress sandbox pods`,
    );
    expect(error?.message).not.toContain(`restricts egress of ${NETWORK_LABEL}=egress`);
  });

  it('fails when a policy gives network=none pods any egress, even next to a default-deny', async () => {
    await setPolicies([DENY_ALL, ALLOW_ALL_EGRESS]);
    const error = await preflightError();
    expect(error?.message).toContain(
      `NetworkPolicy sandbox-allow-all allows egress to ${NETWORK_LABEL}=none sandbox pods, which must have none`,
    );
  });

  it('K8S_REQUIRE_NETWORK_POLICY=false turns the check off, not the RBAC check', async () => {
    await setPolicies([]);
    expect(await preflightError({ requireNetworkPolicy: false })).toBeUndefined();
    // An identity the apiserver does not know: RBAC is still asked, and still refuses.
    const server = cluster.worker.getCurrentCluster()!;
    const stranger = new KubeConfig();
    stranger.loadFromOptions({
      clusters: [{ name: 'dev', server: server.server, caData: server.caData, caFile: server.caFile }],
      users: [{ name: 'stranger', token: 'not-a-valid-token' }],
      contexts: [{ name: 'dev', cluster: 'dev', user: 'stranger' }],
      currentContext: 'dev',
    });
    const denied = await new KubernetesDriver({
      kubeConfig: stranger,
      namespace,
      requireNetworkPolicy: false,
    })
      .preflight()
      .then(
        () => undefined,
        (error: Error) => error,
      );
    expect(denied).toBeInstanceOf(SandboxError);
    expect(denied?.message).toMatch(/kubernetes preflight: cannot ask .* what the worker may do/);
  });

  it('labels each sandbox pod with its network mode, which the policies select on', async () => {
    await setPolicies([DENY_ALL, EGRESS_PUBLIC]);
    const kubernetes = driver();
    const core = cluster.admin.makeApiClient(CoreV1Api);
    for (const [egress, mode] of [
      [undefined, 'none'],
      [[], 'none'],
      [['github.com', '*.example.org:443'], 'egress'],
    ] as const) {
      const sandbox = await kubernetes.create({
        labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: 'netpol-test' },
        ...(egress ? { egress } : {}),
        maxLifetimeSeconds: 120,
      });
      try {
        const pods = await core.listNamespacedPod({
          namespace,
          labelSelector: `ci-fixer.dev/sandbox=${sandbox.id}`,
        });
        expect(pods.items).toHaveLength(1);
        expect(pods.items[0]!.metadata!.labels![NETWORK_LABEL], JSON.stringify(egress)).toBe(mode);
      } finally {
        await sandbox.destroy();
      }
    }
    // A caller's label cannot claim a wider network than its spec asked for.
    const sneaky = await kubernetes.create({
      labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: 'netpol-test', [NETWORK_LABEL]: 'egress' },
      maxLifetimeSeconds: 120,
    });
    try {
      const pods = await core.listNamespacedPod({
        namespace,
        labelSelector: `ci-fixer.dev/sandbox=${sneaky.id}`,
      });
      expect(pods.items[0]!.metadata!.labels![NETWORK_LABEL]).toBe('none');
    } finally {
      await sneaky.destroy();
    }
  }, 120_000);
});

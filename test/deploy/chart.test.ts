/**
 * The Helm chart against the code: env names, ports, health routes, queue keys, RBAC rules and shutdown
 * timing all come from the code (packages/config, packages/queue, apps/api) or from the shared rules file,
 * and every check renders the chart with the real helm binary.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { ENV_NAMES, isSecretEnvName, loadConfig } from '@ci-fixer/config';
import { backlogKeys } from '@ci-fixer/queue';
import { HEALTH_PATHS } from '../../apps/api/src/health.ts';
import { buildJob, NETWORK_LABEL, type NetworkMode } from '../../packages/sandbox/src/kubernetes/job-spec.ts';
import {
  networkPolicyGaps,
  REQUIRED_PERMISSIONS,
  selects,
} from '../../packages/sandbox/src/kubernetes/preflight.ts';
import {
  CHART_OWNED_ENV_NAMES,
  CREDENTIAL_NAME,
  envEntries,
  staleChartFiles,
} from '../../scripts/chart-contract.ts';
import {
  CHART_DIR,
  RELEASE,
  NAMESPACE,
  find,
  helm,
  parseManifests,
  podSpec,
  render,
  startScriptedRedis,
  templateArgs,
  type Manifest,
} from './helm.ts';

const fullname = `${RELEASE}-ci-fixer`;
const envNames: readonly string[] = ENV_NAMES;
const secretNames = new Set<string>(ENV_NAMES.filter(isSecretEnvName));
const sandboxNs = `${NAMESPACE}-sandboxes`;
const redisAuthSecret = `${fullname}-redis-auth`;

/**
 * Container env names that are not the code's settings: REDIS_PASSWORD (a secretKeyRef the kubelet expands
 * into REDIS_URL as $(REDIS_PASSWORD), so the URL's password never appears in the pod spec) and Node's own
 * NODE_EXTRA_CA_CERTS (the external Redis's CA).
 */
// The Kubernetes client's types, as the driver's own functions take them (the client is the sandbox package's).
type V1NetworkPolicy = Parameters<typeof networkPolicyGaps>[0][number];
type V1LabelSelector = NonNullable<Parameters<typeof selects>[0]>;

const CHART_INTERNAL_ENV = ['REDIS_PASSWORD', 'NODE_EXTRA_CA_CERTS'];

/** The chart's cluster-scoped objects; every other object names its namespace. */
const CLUSTER_SCOPED_KINDS = ['Namespace', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'];

/** Every optional feature on, as far as one values set allows (HPA and KEDA exclude each other). */
const FEATURE_SETS: Record<string, string[]> = {
  defaults: [],
  ingress: ['api.ingress.enabled=true', 'api.ingress.className=nginx'],
  hpa: ['worker.autoscaling.enabled=true'],
  keda: ['worker.keda.enabled=true'],
  serviceMonitor: ['serviceMonitor.enabled=true'],
  networkPolicyOff: ['sandbox.networkPolicy.enabled=false'],
  separateSandboxNamespace: ['sandbox.namespace=cf-sandboxes', 'sandbox.createNamespace=true'],
  sharedNamespace: [`sandbox.namespace=${NAMESPACE}`, 'sandbox.allowReleaseNamespace=true'],
  redisAclUser: ['redis.auth.username=cifixer'],
  redisExistingSecret: ['redis.auth.existingSecret=my-redis-password'],
  externalRedisTls: [
    'redis.enabled=false',
    'externalRedis.url=rediss://app:pw@redis.internal:6380/0',
    'externalRedis.tls.caSecret.name=redis-ca',
  ],
  existingSecret: ['existingSecret=my-credentials'],
  externalRedisUrl: ['redis.enabled=false', 'externalRedis.url=rediss://:pw@redis.internal:6380/2'],
  externalRedisSecret: ['redis.enabled=false', 'externalRedis.existingSecret=my-redis'],
};

function envNamesOf(manifests: Manifest[], workload: string): Set<string> {
  const spec = podSpec(find(manifests, 'Deployment', `${fullname}-${workload}`));
  const container = spec.containers[0]!;
  const names = new Set<string>();
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    const kind = source.configMapRef ? 'ConfigMap' : 'Secret';
    const object = manifests.find((m) => m.kind === kind && m.metadata.name === ref!.name);
    if (!object) continue; // an existingSecret: not the chart's to know
    for (const key of Object.keys((object.data as Record<string, string>) ?? {})) names.add(key);
  }
  for (const entry of container.env ?? []) names.add(entry.name);
  return names;
}

describe('generated chart files', () => {
  test('chart/files/*.json and values.schema.json match the code (pnpm chart:contract)', () => {
    expect(staleChartFiles()).toEqual([]);
  });

  test('every name that looks like a credential is flagged secret, and the generator refuses one that is not', () => {
    for (const name of ENV_NAMES) {
      if (CREDENTIAL_NAME.test(name)) expect(isSecretEnvName(name), name).toBe(true);
    }
    expect(CREDENTIAL_NAME.test('FORGE_NEW_TOKEN')).toBe(true);
    expect(CREDENTIAL_NAME.test('WORKER_CONCURRENCY')).toBe(false);
    expect(Object.keys(envEntries())).toEqual(ENV_NAMES);
  });
});

describe('env names: the chart sets exactly what the code reads', () => {
  test.each(Object.entries(FEATURE_SETS))(
    '%s: every container env name is one the code reads',
    async (_name, set) => {
      const manifests = await render({ set });
      for (const manifest of manifests) {
        if (!['Deployment', 'StatefulSet', 'Pod'].includes(manifest.kind)) continue;
        if (manifest.metadata.name.endsWith('-redis')) continue; // the redis image, not ci-fixer
        for (const container of podSpec(manifest).containers) {
          for (const entry of container.env ?? []) {
            if (CHART_INTERNAL_ENV.includes(entry.name)) continue;
            expect(envNames, `${manifest.metadata.name}`).toContain(entry.name);
          }
        }
      }
      for (const manifest of manifests) {
        if (!CLUSTER_SCOPED_KINDS.includes(manifest.kind))
          expect(manifest.metadata.namespace, `${manifest.kind}/${manifest.metadata.name}`).toBeTruthy();
      }
      for (const kind of ['ConfigMap', 'Secret']) {
        // The Redis password Secret feeds the Redis server too; its one key is checked in the Redis tests.
        for (const object of manifests.filter(
          (m) => m.kind === kind && m.metadata.name !== redisAuthSecret,
        )) {
          for (const key of Object.keys((object.data as Record<string, string>) ?? {})) {
            expect(envNames, `${kind} ${object.metadata.name}`).toContain(key);
          }
        }
      }
    },
  );

  test.each(['api', 'worker'])(
    '%s gets every env name the code reads, credentials only from Secrets',
    async (workload) => {
      const manifests = await render();
      const names = [...envNamesOf(manifests, workload)].filter((name) => !CHART_INTERNAL_ENV.includes(name));
      expect(names.sort()).toEqual([...ENV_NAMES].sort());
      const configMap = find(manifests, 'ConfigMap', fullname);
      for (const key of Object.keys(configMap.data as object)) expect(secretNames.has(key), key).toBe(false);
      const secret = find(manifests, 'Secret', fullname);
      for (const key of Object.keys(secret.data as object)) expect(secretNames.has(key), key).toBe(true);
    },
  );

  test('values files set only names the code reads, in the right section', () => {
    for (const file of ['values.yaml', 'values-prod.yaml']) {
      const values = parse(readFileSync(path.join(CHART_DIR, file), 'utf8')) as {
        config?: Record<string, unknown>;
        secrets?: Record<string, unknown>;
      };
      for (const name of Object.keys(values.config ?? {})) {
        expect(envNames, `${file} config`).toContain(name);
        expect(secretNames.has(name) || CHART_OWNED_ENV_NAMES.includes(name), `${file} config.${name}`).toBe(
          false,
        );
      }
      for (const name of Object.keys(values.secrets ?? {}))
        expect(secretNames.has(name), `${file} secrets.${name}`).toBe(true);
    }
  });

  test('configured values reach the ConfigMap as the code parses them', async () => {
    const manifests = await render({
      set: [
        'config.API_MAX_BODY_BYTES=2097152',
        'config.BULL_BOARD_READ_ONLY=false',
        'config.CI_FIXER_REPO_HOSTS=github.com\\,git.example.org',
      ],
    });
    const data = find(manifests, 'ConfigMap', fullname).data as Record<string, string>;
    // As the pods get them: the ConfigMap and the Secret (whose empty entries mean unset).
    const secret = Object.fromEntries(
      Object.entries(find(manifests, 'Secret', fullname).data as Record<string, string>)
        .map(([name, value]) => [name, Buffer.from(value, 'base64').toString()])
        .filter(([, value]) => value),
    );
    const parsed = loadConfig({ ...data, ...secret, REDIS_URL: 'redis://x:6379' });
    expect(parsed.K8S_EGRESS_PROXY).toBe(`${fullname}-egress-proxy.${NAMESPACE}.svc:3128`);
    expect(parsed.API_MAX_BODY_BYTES).toBe(2_097_152);
    expect(parsed.BULL_BOARD_READ_ONLY).toBe(false);
    expect(parsed.CI_FIXER_REPO_HOSTS).toEqual(['github.com', 'git.example.org']);
    expect(parsed.NODE_ENV).toBe('production');
    expect(parsed.HOST).toBe('0.0.0.0');
    // Large integers from a values file arrive as floats in helm; they must not render as 1.048576e+06.
    const fromFile = await render({ files: ['values-prod.yaml'] });
    expect((find(fromFile, 'ConfigMap', fullname).data as Record<string, string>).FIX_TIMEOUT_SECONDS).toBe(
      '1800',
    );
  });
});

describe('ports, health routes and the helm test follow the API code', () => {
  test.each([[3000], [8080]])('api.port=%i: container port, PORT, probes and Service agree', async (port) => {
    const manifests = await render({ set: [`api.port=${port}`] });
    const container = podSpec(find(manifests, 'Deployment', `${fullname}-api`)).containers[0]!;
    expect(container.ports).toEqual([{ name: 'http', containerPort: port, protocol: 'TCP' }]);
    expect((find(manifests, 'ConfigMap', fullname).data as Record<string, string>).PORT).toBe(String(port));
    expect(container.livenessProbe?.httpGet).toEqual({ path: HEALTH_PATHS.live, port: 'http' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: HEALTH_PATHS.ready, port: 'http' });
    const service = find(manifests, 'Service', `${fullname}-api`).spec as {
      ports: { targetPort: string; port: number }[];
    };
    expect(service.ports[0]!.targetPort).toBe('http');
    const testPod = find(manifests, 'Pod', `${fullname}-test-readyz`);
    expect(testPod.metadata.annotations?.['helm.sh/hook']).toBe('test');
    expect(podSpec(testPod).containers[0]!.command!.at(-1)).toBe(
      `http://${fullname}-api:80${HEALTH_PATHS.ready}`,
    );
  });
});

test('worker metrics: the container port, WORKER_METRICS_PORT/HOST and the PodMonitor agree', async () => {
  const manifests = await render({ set: ['serviceMonitor.enabled=true', 'worker.metricsPort=9555'] });
  const data = find(manifests, 'ConfigMap', fullname).data as Record<string, string>;
  expect([data.WORKER_METRICS_PORT, data.WORKER_METRICS_HOST]).toEqual(['9555', '0.0.0.0']);
  const container = podSpec(find(manifests, 'Deployment', `${fullname}-worker`)).containers[0]!;
  expect(container.ports).toEqual([{ name: 'metrics', containerPort: 9555, protocol: 'TCP' }]);
  const podMonitor = find(manifests, 'PodMonitor', `${fullname}-worker`).spec as {
    podMetricsEndpoints: { port: string; path: string }[];
  };
  expect(podMonitor.podMetricsEndpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
  const off = await render({ set: ['serviceMonitor.enabled=true', 'worker.metricsPort=0'] });
  expect(off.filter((m) => m.kind === 'PodMonitor')).toEqual([]);
  expect((find(off, 'ConfigMap', fullname).data as Record<string, string>).WORKER_METRICS_PORT).toBe('0');
});

describe('worker scaling and shutdown', () => {
  test('terminationGracePeriodSeconds covers the shutdown grace, which covers the longest fix', async () => {
    const manifests = await render();
    const spec = podSpec(find(manifests, 'Deployment', `${fullname}-worker`));
    const data = find(manifests, 'ConfigMap', fullname).data as Record<string, string>;
    const grace = Number(data.WORKER_SHUTDOWN_GRACE_SECONDS);
    expect(grace).toBeGreaterThanOrEqual(Number(data.FIX_TIMEOUT_SECONDS));
    expect(spec.terminationGracePeriodSeconds).toBe(grace + 30);
  });

  test('a shutdown grace shorter than the fix timeout is refused with the reason', async () => {
    const result = await helm(templateArgs({ set: ['config.WORKER_SHUTDOWN_GRACE_SECONDS=60'] }));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      'WORKER_SHUTDOWN_GRACE_SECONDS (60) is shorter than config.FIX_TIMEOUT_SECONDS (1800)',
    );
    const accepted = await render({
      set: ['config.WORKER_SHUTDOWN_GRACE_SECONDS=60', 'worker.allowShortShutdownGrace=true'],
    });
    expect(podSpec(find(accepted, 'Deployment', `${fullname}-worker`)).terminationGracePeriodSeconds).toBe(
      90,
    );
  });

  test('KEDA scales on both backlog keys of the real queue, and the Deployment leaves replicas to it', async () => {
    const manifests = await render({ set: ['worker.keda.enabled=true'] });
    const scaled = find(manifests, 'ScaledObject', `${fullname}-worker`).spec as {
      scaleTargetRef: { name: string };
      triggers: { type: string; metadata: Record<string, string> }[];
    };
    expect(scaled.scaleTargetRef.name).toBe(`${fullname}-worker`);
    expect(scaled.triggers.map((t) => [t.type, t.metadata.listName])).toEqual([
      ['redis', backlogKeys.wait],
      ['redis', backlogKeys.prioritized],
    ]);
    expect(scaled.triggers[0]!.metadata.address).toBe(`${fullname}-redis:6379`);
    expect(
      (find(manifests, 'Deployment', `${fullname}-worker`).spec as { replicas?: number }).replicas,
    ).toBeUndefined();
  });

  test('HPA targets the worker Deployment with the configured bounds', async () => {
    const manifests = await render({
      set: ['worker.autoscaling.enabled=true', 'worker.autoscaling.maxReplicas=7'],
    });
    const hpa = find(manifests, 'HorizontalPodAutoscaler', `${fullname}-worker`).spec as Record<
      string,
      unknown
    >;
    expect(hpa).toMatchObject({
      scaleTargetRef: { kind: 'Deployment', name: `${fullname}-worker` },
      minReplicas: 1,
      maxReplicas: 7,
    });
  });

  test('PodDisruptionBudgets select the api and worker pods', async () => {
    const manifests = await render();
    for (const component of ['api', 'worker']) {
      const pdb = find(manifests, 'PodDisruptionBudget', `${fullname}-${component}`).spec as {
        selector: { matchLabels: Record<string, string> };
      };
      const pods = find(manifests, 'Deployment', `${fullname}-${component}`).spec as {
        template: { metadata: { labels: Record<string, string> } };
      };
      expect(pods.template.metadata.labels).toMatchObject(pdb.selector.matchLabels);
    }
  });
});

describe('RBAC and sandbox isolation', () => {
  const rules = parse(
    readFileSync(path.join(CHART_DIR, 'files', 'worker-role-rules.yaml'), 'utf8'),
  ) as unknown[];

  test.each([
    ['the default sandbox namespace', [], sandboxNs],
    [
      'the release namespace (explicitly allowed)',
      [`sandbox.namespace=${NAMESPACE}`, 'sandbox.allowReleaseNamespace=true'],
      NAMESPACE,
    ],
    ['a named namespace', ['sandbox.namespace=cf-sandboxes', 'sandbox.createNamespace=true'], 'cf-sandboxes'],
  ])(
    'sandboxes in %s: the worker Role has exactly the shared rules, there, and nothing cluster-wide',
    async (_label, set, sandboxNs) => {
      const manifests = await render({ set });
      const role = find(manifests, 'Role', `${fullname}-worker`);
      expect(role.metadata.namespace).toBe(sandboxNs);
      expect(role.rules).toEqual(rules);
      const binding = find(manifests, 'RoleBinding', `${fullname}-worker`) as Manifest & {
        subjects: unknown[];
      };
      expect(binding.metadata.namespace).toBe(sandboxNs);
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: `${fullname}-worker`, namespace: NAMESPACE },
      ]);
      expect(manifests.filter((m) => m.kind.startsWith('Cluster'))).toEqual([]);
      expect(manifests.filter((m) => m.kind === 'Role' || m.kind === 'RoleBinding')).toHaveLength(2);
      const serviceAccounts = Object.fromEntries(
        manifests
          .filter((m) => m.kind === 'ServiceAccount')
          .map((m) => [m.metadata.name, m as Manifest & { automountServiceAccountToken: boolean }]),
      );
      expect(serviceAccounts[`${fullname}-api`]!.automountServiceAccountToken).toBe(false);
      expect(serviceAccounts[`${fullname}-sandbox`]!.automountServiceAccountToken).toBe(false);
      expect(serviceAccounts[`${fullname}-sandbox`]!.metadata.namespace).toBe(sandboxNs);
      expect(podSpec(find(manifests, 'Deployment', `${fullname}-api`)).automountServiceAccountToken).toBe(
        false,
      );
      if (sandboxNs !== NAMESPACE) expect(find(manifests, 'Namespace', sandboxNs).kind).toBe('Namespace');
    },
  );

  test('the shared rules grant exactly what the driver asks for (REQUIRED_PERMISSIONS), networkpolicies read-only', () => {
    const granted = (rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[]).flatMap(
      (rule) =>
        rule.apiGroups.flatMap((group) =>
          rule.resources.flatMap((resource) => rule.verbs.map((verb) => `${verb} ${group}/${resource}`)),
        ),
    );
    const required = REQUIRED_PERMISSIONS.map(
      (p) => `${p.verb} ${p.group}/${p.subresource ? `${p.resource}/${p.subresource}` : p.resource}`,
    );
    expect(granted.sort()).toEqual(required.sort());
    expect(granted.filter((g) => g.includes('networkpolicies')).sort()).toEqual([
      'get networking.k8s.io/networkpolicies',
      'list networking.k8s.io/networkpolicies',
    ]);
  });

  test('the sandbox namespace is created with Pod Security `restricted` enforced', async () => {
    const manifests = await render();
    const namespace = find(manifests, 'Namespace', sandboxNs);
    expect(namespace.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
    });
    expect((find(manifests, 'ConfigMap', fullname).data as Record<string, string>).K8S_NAMESPACE).toBe(
      sandboxNs,
    );
    // An existing namespace (createNamespace=false) is the operator's to label.
    const existing = await render({ set: ['sandbox.createNamespace=false'] });
    expect(existing.filter((m) => m.kind === 'Namespace')).toEqual([]);
  });

  test('the sandbox admission policy: on by default, for the worker in the sandbox namespace only, one per release', async () => {
    type Policy = Manifest & {
      spec: {
        failurePolicy: string;
        matchConstraints: { namespaceSelector: unknown; resourceRules: unknown[] };
        matchConditions: { expression: string }[];
        variables?: { name: string; expression: string }[];
        validations: { expression: string; message?: string }[];
      };
    };
    const policies = async (set: string[] = [], namespace = NAMESPACE) =>
      (await render({ set, namespace })).filter((m) => m.kind.startsWith('ValidatingAdmissionPolicy'));
    const jobsName = `${fullname}-sandbox-jobs.${NAMESPACE}`;
    const podsName = `${fullname}-sandbox-pods.${NAMESPACE}`;
    const rendered = await policies();
    expect(rendered.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      `ValidatingAdmissionPolicy/${jobsName}`,
      `ValidatingAdmissionPolicy/${podsName}`,
      `ValidatingAdmissionPolicyBinding/${jobsName}`,
      `ValidatingAdmissionPolicyBinding/${podsName}`,
    ]);
    for (const binding of rendered.filter((m) => m.kind === 'ValidatingAdmissionPolicyBinding'))
      expect(binding.spec).toEqual({ policyName: binding.metadata.name, validationActions: ['Deny'] });
    const jobs = find(rendered, 'ValidatingAdmissionPolicy', jobsName) as Policy;
    const pods = find(rendered, 'ValidatingAdmissionPolicy', podsName) as Policy;
    for (const policy of [jobs, pods]) {
      expect(policy.spec.failurePolicy).toBe('Fail');
      expect(policy.spec.matchConstraints.namespaceSelector).toEqual({
        matchLabels: { 'kubernetes.io/metadata.name': sandboxNs },
      });
      expect(policy.spec.matchConditions).toEqual([
        {
          name: 'worker-service-account',
          expression: `request.userInfo.username == 'system:serviceaccount:${NAMESPACE}:${fullname}-worker'`,
        },
      ]);
    }
    // Pods themselves only: exec and logs are subresources and stay the worker's.
    expect(pods.spec.matchConstraints.resourceRules).toEqual([
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] },
    ]);
    const variable = (policy: Policy, name: string) =>
      policy.spec.variables!.find((v) => v.name === name)!.expression;
    // The code's default image (config.SANDBOX_IMAGE unset), or the configured one.
    expect(JSON.parse(variable(jobs, 'allowedImages'))).toEqual([
      loadConfig({ REDIS_URL: 'redis://x:6379' }).SANDBOX_IMAGE,
    ]);
    const configured = (await policies(['config.SANDBOX_IMAGE=registry.example/sandbox:1'])).find(
      (m) => m.metadata.name === jobsName,
    ) as Policy;
    expect(JSON.parse(variable(configured, 'allowedImages'))).toEqual(['registry.example/sandbox:1']);
    expect(jobs.spec.validations.map((v) => v.expression).join('\n')).toContain(
      `object.spec.template.spec.?serviceAccountName.orValue('') == '${fullname}-sandbox'`,
    );

    // Another namespace, same release name: other names, so neither release overwrites the other's.
    const elsewhere = (await policies([], 'elsewhere')).map((m) => m.metadata.name);
    expect(elsewhere).toContain(`${fullname}-sandbox-jobs.elsewhere`);
    expect(elsewhere.filter((name) => rendered.some((m) => m.metadata.name === name))).toEqual([]);
    expect(await policies(['sandbox.admissionPolicy.enabled=false'])).toEqual([]);

    const leftOut = await helm(
      templateArgs({
        set: [
          'config.SANDBOX_IMAGE=registry.example/sandbox:1',
          'sandbox.admissionPolicy.allowedImages={other:1}',
        ],
      }),
    );
    expect(leftOut.code).not.toBe(0);
    expect(leftOut.stderr).toContain(
      'sandbox.admissionPolicy.allowedImages ["other:1"] leaves out the image the worker starts sandboxes from (registry.example/sandbox:1',
    );
  });

  test('sharing the release namespace with sandboxes is refused unless explicitly allowed', async () => {
    const refused = await helm(templateArgs({ set: [`sandbox.namespace=${NAMESPACE}`] }));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(
      `sandbox.namespace is the release namespace (${NAMESPACE}): sandbox pods run untrusted repository code`,
    );
    expect(refused.stderr).toContain('set sandbox.allowReleaseNamespace=true only to accept sharing it');
    const allowed = await helm(
      templateArgs({ set: [`sandbox.namespace=${NAMESPACE}`, 'sandbox.allowReleaseNamespace=true'] }),
    );
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(parseManifests(allowed.stdout).filter((m) => m.kind === 'Namespace')).toEqual([]);
  });
});

/** Pod labels of one workload as rendered. */
function podLabels(manifests: Manifest[], kind: string, name: string): Record<string, string> {
  return (find(manifests, kind, name).spec as { template: { metadata: { labels: Record<string, string> } } })
    .template.metadata.labels;
}

/** The labels the kubernetes driver gives a sandbox pod (buildJob, the driver's own code). */
function sandboxPodLabels(network: NetworkMode): Record<string, string> {
  const job = buildJob(
    {
      image: 'ci-fixer/sandbox:test',
      serviceAccountName: 'sandbox',
      uid: 1000,
      gid: 1000,
      workspaceDir: '/workspace',
      limits: { cpus: 1, memoryBytes: 1 << 30 },
      ttlSecondsAfterFinished: 60,
    },
    {
      name: 'cif-test-0000',
      labels: { 'app.kubernetes.io/managed-by': 'ci-fixer', 'ci-fixer.dev/owner': 'w1' },
      network,
      maxLifetimeSeconds: 60,
    },
  );
  return job.spec!.template.metadata!.labels!;
}

interface Peer {
  podSelector?: V1LabelSelector;
  namespaceSelector?: V1LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

/** The peers of a rendered policy's first ingress rule (as YAML has it: `from`; the client's type says `_from`). */
function ingressFrom(policy: Manifest): Peer[] {
  return (policy.spec as { ingress: { from: Peer[] }[] }).ingress[0]!.from;
}

/** Whether a pod with `labels` in `namespace` is one of a policy rule's peers (ipBlocks aside). */
function peerAdmits(
  peers: Peer[],
  policyNs: string,
  namespace: string,
  labels: Record<string, string>,
): boolean {
  return peers.some((peer) => {
    if (peer.ipBlock) return false;
    const nsLabels = { 'kubernetes.io/metadata.name': namespace };
    const nsOk = peer.namespaceSelector ? selects(peer.namespaceSelector, nsLabels) : namespace === policyNs;
    return nsOk && (peer.podSelector ? selects(peer.podSelector, labels) : true);
  });
}

describe('NetworkPolicies (on by default; enforcement needs a CNI, which the dev cluster lacks)', () => {
  const policies = (manifests: Manifest[]) =>
    manifests.filter((m) => m.kind === 'NetworkPolicy') as unknown as V1NetworkPolicy[];

  test('the sandbox policies select sandbox pods by the driver’s labels and pass the driver’s own preflight check', async () => {
    const manifests = await render();
    const sandboxPolicies = policies(manifests).filter((p) => p.metadata!.namespace === sandboxNs);
    expect(sandboxPolicies.map((p) => p.metadata!.name).sort()).toEqual([
      `${fullname}-sandbox-deny`,
      `${fullname}-sandbox-egress`,
    ]);
    expect(networkPolicyGaps(sandboxPolicies)).toEqual([]);
    // And the check is live: without the default-deny, or with the chart's policies off, it finds gaps.
    expect(
      networkPolicyGaps(sandboxPolicies.filter((p) => !p.metadata!.name!.endsWith('-deny'))),
    ).not.toEqual([]);
    const off = await render({ set: ['sandbox.networkPolicy.enabled=false'] });
    expect(policies(off)).toEqual([]);
    expect(networkPolicyGaps(policies(off))).toHaveLength(4);

    const selecting = (mode: NetworkMode) =>
      sandboxPolicies
        .filter((p) => selects(p.spec!.podSelector, sandboxPodLabels(mode)))
        .map((p) => p.metadata!.name);
    expect(sandboxPodLabels('none')[NETWORK_LABEL]).toBe('none');
    expect(selecting('none')).toEqual([`${fullname}-sandbox-deny`]);
    expect(selecting('egress').sort()).toEqual([`${fullname}-sandbox-deny`, `${fullname}-sandbox-egress`]);
    // The chart's own pods in the release namespace are no sandbox pods.
    for (const workload of ['api', 'worker'])
      for (const p of sandboxPolicies)
        expect(
          selects(p.spec!.podSelector, podLabels(manifests, 'Deployment', `${fullname}-${workload}`)),
        ).toBe(false);
  });

  test('egress pods reach the egress proxy pods and nothing else, not even DNS', async () => {
    const manifests = await render();
    const policy = find(manifests, 'NetworkPolicy', `${fullname}-sandbox-egress`)
      .spec as V1NetworkPolicy['spec'] & {};
    expect(policy.policyTypes).toEqual(['Egress']);
    expect(policy.egress).toHaveLength(1);
    const [rule] = policy.egress!;
    expect(rule!.ports).toEqual([{ protocol: 'TCP', port: 3128 }]);
    const to = rule!.to as unknown as Peer[];
    expect(to.some((peer) => peer.ipBlock)).toBe(false);
    const proxyPods = podLabels(manifests, 'Deployment', `${fullname}-egress-proxy`);
    expect(peerAdmits(to, sandboxNs, NAMESPACE, proxyPods)).toBe(true);
    for (const workload of ['api', 'worker'])
      expect(
        peerAdmits(to, sandboxNs, NAMESPACE, podLabels(manifests, 'Deployment', `${fullname}-${workload}`)),
      ).toBe(false);
    expect(peerAdmits(to, sandboxNs, 'kube-system', { 'k8s-app': 'kube-dns' })).toBe(false);
    // A pod of another namespace wearing the proxy's labels is not the proxy.
    expect(peerAdmits(to, sandboxNs, sandboxNs, proxyPods)).toBe(false);
  });

  test('the egress proxy admits only egress sandbox pods and reaches DNS and public addresses on 443/80/22/9418', async () => {
    const manifests = await render();
    const proxy = find(manifests, 'NetworkPolicy', `${fullname}-egress-proxy`) as unknown as V1NetworkPolicy;
    expect(proxy.metadata!.namespace).toBe(NAMESPACE);
    expect(
      selects(proxy.spec!.podSelector, podLabels(manifests, 'Deployment', `${fullname}-egress-proxy`)),
    ).toBe(true);
    expect(proxy.spec!.policyTypes).toEqual(['Ingress', 'Egress']);
    const from = ingressFrom(proxy as unknown as Manifest);
    expect(proxy.spec!.ingress![0]!.ports).toEqual([{ protocol: 'TCP', port: 3128 }]);
    expect(peerAdmits(from, NAMESPACE, sandboxNs, sandboxPodLabels('egress'))).toBe(true);
    expect(peerAdmits(from, NAMESPACE, sandboxNs, sandboxPodLabels('none'))).toBe(false);
    expect(peerAdmits(from, NAMESPACE, NAMESPACE, sandboxPodLabels('egress'))).toBe(false);
    expect(
      peerAdmits(from, NAMESPACE, NAMESPACE, podLabels(manifests, 'Deployment', `${fullname}-api`)),
    ).toBe(false);
    const [dns, internet] = proxy.spec!.egress!;
    expect(dns!.to).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
        podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      },
    ]);
    expect(dns!.ports!.map((p) => `${p.protocol}/${p.port}`)).toEqual(['UDP/53', 'TCP/53']);
    expect(internet!.ports!.map((p) => `${p.protocol}/${p.port}`)).toEqual([
      'TCP/443',
      'TCP/80',
      'TCP/22',
      'TCP/9418',
    ]);
    expect(internet!.to!.map((t) => t.ipBlock)).toEqual([
      {
        cidr: '0.0.0.0/0',
        except: [
          '10.0.0.0/8',
          '172.16.0.0/12',
          '192.168.0.0/16',
          '169.254.0.0/16',
          '100.64.0.0/10',
          '127.0.0.0/8',
          '0.0.0.0/8',
          '10.244.0.0/16',
          '10.96.0.0/12',
        ],
      },
      { cidr: '::/0', except: ['fc00::/7', 'fe80::/10', '::1/128'] },
    ]);
    // The cluster's own networks come from values, IPv6 ones into the IPv6 block.
    const custom = await render({
      set: [
        'sandbox.networkPolicy.podCIDRs={100.96.0.0/11,fd00:10::/56}',
        'sandbox.networkPolicy.serviceCIDRs={198.18.0.0/15}',
      ],
    });
    const blocks = (
      find(custom, 'NetworkPolicy', `${fullname}-egress-proxy`).spec as V1NetworkPolicy['spec'] & {}
    ).egress![1]!.to!.map((t) => t.ipBlock!);
    expect(blocks[0]!.except).toEqual(expect.arrayContaining(['100.96.0.0/11', '198.18.0.0/15']));
    expect(blocks[1]!.except).toContain('fd00:10::/56');
    expect(blocks[0]!.except).not.toContain('fd00:10::/56');
  });

  test('the egress proxy runs the worker image with only its key of the Secret; the worker gets its address', async () => {
    const manifests = await render();
    const pod = podSpec(find(manifests, 'Deployment', `${fullname}-egress-proxy`));
    expect(pod.automountServiceAccountToken).toBe(false);
    const [container] = pod.containers;
    expect(container!.image).toMatch(/^ci-fixer\/worker:/);
    expect(container!.args).toEqual(['node', 'apps/worker/src/egress-proxy.ts']);
    expect(container!.envFrom).toBeUndefined();
    expect(container!.env).toContainEqual({
      name: 'SANDBOX_EGRESS_PROXY_KEY',
      valueFrom: { secretKeyRef: { name: fullname, key: 'SANDBOX_EGRESS_PROXY_KEY' } },
    });
    const service = find(manifests, 'Service', `${fullname}-egress-proxy`) as Manifest & {
      spec: { selector: Record<string, string>; ports: { port: number }[] };
    };
    expect(
      selects(
        { matchLabels: service.spec.selector },
        podLabels(manifests, 'Deployment', `${fullname}-egress-proxy`),
      ),
    ).toBe(true);
    const config = find(manifests, 'ConfigMap', fullname).data as Record<string, string>;
    expect(config.K8S_EGRESS_PROXY).toBe(
      `${fullname}-egress-proxy.${NAMESPACE}.svc:${service.spec.ports[0]!.port}`,
    );
    const secret = find(manifests, 'Secret', fullname).data as Record<string, string>;
    expect(Buffer.from(secret.SANDBOX_EGRESS_PROXY_KEY!, 'base64').toString()).toMatch(/^[A-Za-z0-9]{48}$/);
  });

  test('Redis admits only the API and worker pods; API and worker metrics admit everything but sandbox pods', async () => {
    const manifests = await render();
    const api = podLabels(manifests, 'Deployment', `${fullname}-api`);
    const worker = podLabels(manifests, 'Deployment', `${fullname}-worker`);
    const redisPods = podLabels(manifests, 'StatefulSet', `${fullname}-redis`);
    const sandbox = sandboxPodLabels('egress');
    const policy = (name: string) => find(manifests, 'NetworkPolicy', name) as unknown as V1NetworkPolicy;

    const redis = policy(`${fullname}-redis`);
    expect(selects(redis.spec!.podSelector, redisPods)).toBe(true);
    expect(redis.spec!.policyTypes).toEqual(['Ingress']);
    const redisFrom = ingressFrom(redis as unknown as Manifest);
    expect(redis.spec!.ingress![0]!.ports).toEqual([{ protocol: 'TCP', port: 6379 }]);
    expect(peerAdmits(redisFrom, NAMESPACE, NAMESPACE, api)).toBe(true);
    expect(peerAdmits(redisFrom, NAMESPACE, NAMESPACE, worker)).toBe(true);
    expect(peerAdmits(redisFrom, NAMESPACE, sandboxNs, sandbox)).toBe(false);
    expect(peerAdmits(redisFrom, NAMESPACE, NAMESPACE, sandbox)).toBe(false);
    expect(peerAdmits(redisFrom, NAMESPACE, 'monitoring', { app: 'prometheus' })).toBe(false);
    expect(redisFrom.some((peer) => peer.ipBlock)).toBe(false);

    for (const [name, labels, port] of [
      [`${fullname}-api`, api, 3000],
      [`${fullname}-worker`, worker, 9464],
    ] as const) {
      const spec = policy(name).spec!;
      expect(selects(spec.podSelector, labels), name).toBe(true);
      const rule = spec.ingress![0]! as unknown as { from: Peer[]; ports: unknown };
      expect(rule.ports).toEqual([{ protocol: 'TCP', port }]);
      const from = rule.from;
      expect(peerAdmits(from, NAMESPACE, sandboxNs, sandbox), name).toBe(false);
      expect(peerAdmits(from, NAMESPACE, 'ingress-nginx', { app: 'controller' }), name).toBe(true);
      expect(peerAdmits(from, NAMESPACE, NAMESPACE, api), name).toBe(true);
      // Outside addresses are admitted, the pod network (where sandbox pods get their IPs) is not.
      expect(from.find((peer) => peer.ipBlock?.cidr === '0.0.0.0/0')?.ipBlock?.except).toEqual([
        '10.244.0.0/16',
      ]);
    }

    // KEDA's operator may count the backlog.
    const keda = await render({ set: ['worker.keda.enabled=true'] });
    const kedaFrom = ingressFrom(find(keda, 'NetworkPolicy', `${fullname}-redis`));
    expect(peerAdmits(kedaFrom, NAMESPACE, 'keda', { app: 'keda-operator' })).toBe(true);
  });

  test('sandboxes sharing the release namespace (allowed explicitly) are still kept out of the API and metrics', async () => {
    const manifests = await render({
      set: [`sandbox.namespace=${NAMESPACE}`, 'sandbox.allowReleaseNamespace=true'],
    });
    const sandbox = sandboxPodLabels('egress');
    for (const name of [`${fullname}-api`, `${fullname}-worker`, `${fullname}-redis`]) {
      const from = ingressFrom(find(manifests, 'NetworkPolicy', name));
      expect(peerAdmits(from, NAMESPACE, NAMESPACE, sandbox), name).toBe(false);
    }
    const api = podLabels(manifests, 'Deployment', `${fullname}-api`);
    const from = ingressFrom(find(manifests, 'NetworkPolicy', `${fullname}-worker`));
    expect(peerAdmits(from, NAMESPACE, NAMESPACE, api)).toBe(true);
  });
});

describe('Redis is not open', () => {
  const appEnv = (manifests: Manifest[], workload: string) =>
    podSpec(find(manifests, 'Deployment', `${fullname}-${workload}`)).containers[0]!.env!;

  test('a generated password in a Secret; REDIS_URL is built from it, never a plain value', async () => {
    const first = await render();
    const secret = find(first, 'Secret', redisAuthSecret) as Manifest & { data: Record<string, string> };
    expect(Object.keys(secret.data)).toEqual(['password']);
    const password = Buffer.from(secret.data.password!, 'base64').toString();
    expect(password).toMatch(/^[A-Za-z0-9]{40}$/);
    // helm template has no cluster to look the Secret up in, so each render generates anew (an upgrade keeps
    // it: chart.cluster.test.ts); two renders differing proves it is random, not a constant in the chart.
    const second = await render();
    expect((find(second, 'Secret', redisAuthSecret).data as Record<string, string>).password).not.toBe(
      secret.data.password,
    );
    for (const workload of ['api', 'worker']) {
      expect(appEnv(first, workload)).toEqual([
        { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: redisAuthSecret, key: 'password' } } },
        { name: 'REDIS_URL', value: `redis://:$(REDIS_PASSWORD)@${fullname}-redis:6379` },
      ]);
    }
    // The password appears in nothing but its Secret.
    const elsewhere = first.filter((m) => m !== secret).map((m) => JSON.stringify(m));
    for (const text of elsewhere) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(secret.data.password!);
    }
    expect(JSON.stringify(find(first, 'ConfigMap', fullname))).not.toContain('REDIS');
  });

  test('the bundled Redis requires the password (config on stdin, not argv) and never evicts (BullMQ)', async () => {
    const manifests = await render();
    const redis = podSpec(find(manifests, 'StatefulSet', `${fullname}-redis`)).containers[0]! as ReturnType<
      typeof podSpec
    >['containers'][number] & { args: string[] };
    const script = redis.args.join('\n');
    expect(redis.command).toEqual(['sh', '-c']);
    expect(script).toMatch(
      /^exec redis-server - .*--maxmemory-policy noeviction <<EOF\nrequirepass \$REDIS_PASSWORD\nEOF\n$/,
    );
    expect(redis.env).toEqual([
      { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: redisAuthSecret, key: 'password' } } },
      { name: 'REDISCLI_AUTH', valueFrom: { secretKeyRef: { name: redisAuthSecret, key: 'password' } } },
    ]);
    // redis-cli exits 0 on NOAUTH: the probe must compare the reply.
    expect(redis.livenessProbe!.exec!.command).toEqual(['sh', '-c', '[ "$(redis-cli ping)" = PONG ]']);
  });

  test.each([
    ['requirepass', [], undefined],
    ['an ACL user', ['redis.auth.username=cifixer'], 'cifixer'],
  ])(
    'the rendered Redis start script, run for real (%s): password required, not on argv, noeviction',
    async (_name, set, user) => {
      const manifests = await render({ set });
      const container = podSpec(find(manifests, 'StatefulSet', `${fullname}-redis`))
        .containers[0]! as unknown as {
        args: string[];
      };
      const password = `chart0test0${Date.now().toString(36)}`;
      const server = await startScriptedRedis(container.args[0]!, password);
      const as = user ? ['--user', user] : [];
      try {
        expect(await server.cli(['ping'])).toMatch(/^NOAUTH/);
        expect(await server.cli([...as, 'ping'], password)).toBe('PONG');
        if (user) expect(await server.cli(['ping'], password)).toMatch(/^NOAUTH/); // "default" is off
        expect(await server.cli([...as, 'config', 'get', 'maxmemory-policy'], password)).toBe(
          'maxmemory-policy\nnoeviction',
        );
        expect(server.cmdline()).not.toContain(password);
      } finally {
        await server.stop();
      }
    },
  );

  test('an ACL user: the default user is disabled, apps, probes and KEDA log in as the user', async () => {
    const manifests = await render({ set: ['redis.auth.username=cifixer', 'worker.keda.enabled=true'] });
    const redis = podSpec(find(manifests, 'StatefulSet', `${fullname}-redis`)).containers[0]! as unknown as {
      args: string[];
      livenessProbe?: { exec?: { command: string[] } };
    };
    expect(redis.args[0]).toContain('user default off\nuser cifixer on >$REDIS_PASSWORD ~* &* +@all\n');
    expect(redis.args[0]).not.toContain('requirepass');
    expect(redis.livenessProbe!.exec!.command[2]).toBe('[ "$(redis-cli --user cifixer ping)" = PONG ]');
    expect(appEnv(manifests, 'worker')[1]).toEqual({
      name: 'REDIS_URL',
      value: `redis://cifixer:$(REDIS_PASSWORD)@${fullname}-redis:6379`,
    });
    const scaled = find(manifests, 'ScaledObject', `${fullname}-worker`).spec as {
      triggers: { metadata: Record<string, string>; authenticationRef: { name: string } }[];
    };
    for (const trigger of scaled.triggers) {
      expect(trigger.metadata.username).toBe('cifixer');
      expect(trigger.authenticationRef.name).toBe(`${fullname}-worker-redis`);
    }
  });

  test('KEDA authenticates with the same Secret; an existing password Secret replaces the generated one', async () => {
    const manifests = await render({
      set: [
        'worker.keda.enabled=true',
        'redis.auth.existingSecret=mine',
        'redis.auth.existingSecretPasswordKey=pw',
      ],
    });
    expect(manifests.filter((m) => m.metadata.name === redisAuthSecret)).toEqual([]);
    expect(find(manifests, 'TriggerAuthentication', `${fullname}-worker-redis`).spec).toEqual({
      secretTargetRef: [{ parameter: 'password', name: 'mine', key: 'pw' }],
    });
    for (const workload of ['api', 'worker'])
      expect(appEnv(manifests, workload)[0]).toEqual({
        name: 'REDIS_PASSWORD',
        valueFrom: { secretKeyRef: { name: 'mine', key: 'pw' } },
      });
    const scaled = find(manifests, 'ScaledObject', `${fullname}-worker`).spec as {
      triggers: { authenticationRef?: { name: string } }[];
    };
    for (const trigger of scaled.triggers)
      expect(trigger.authenticationRef?.name).toBe(`${fullname}-worker-redis`);
  });

  test('external Redis over TLS: the URL from a Secret, the CA mounted and trusted through NODE_EXTRA_CA_CERTS', async () => {
    const manifests = await render({ set: FEATURE_SETS.externalRedisTls });
    for (const workload of ['api', 'worker']) {
      const deployment = find(manifests, 'Deployment', `${fullname}-${workload}`);
      const spec = podSpec(deployment) as ReturnType<typeof podSpec> & {
        volumes: { name: string; secret?: { secretName: string } }[];
        containers: { volumeMounts: { name: string; mountPath: string }[] }[];
      };
      expect(appEnv(manifests, workload)).toEqual([
        {
          name: 'REDIS_URL',
          valueFrom: { secretKeyRef: { name: `${fullname}-redis-url`, key: 'REDIS_URL' } },
        },
        { name: 'NODE_EXTRA_CA_CERTS', value: '/etc/ci-fixer/redis-ca/ca.crt' },
      ]);
      expect(spec.volumes.find((v) => v.name === 'redis-ca')?.secret?.secretName).toBe('redis-ca');
      expect(spec.containers[0]!.volumeMounts).toContainEqual({
        name: 'redis-ca',
        mountPath: '/etc/ci-fixer/redis-ca',
        readOnly: true,
      });
    }
  });
});

describe('values that cannot work fail at install with a clear message', () => {
  test.each([
    [['config.WORKER_CONCURRENCY=lots'], 'WORKER_CONCURRENCY'],
    [['config.WORKER_CONCURRENCY=0'], 'WORKER_CONCURRENCY'],
    [['config.LOG_LEVEL=verbose'], 'LOG_LEVEL'],
    [['config.PORT=8080'], 'PORT'],
    [['config.NOT_A_SETTING=1'], 'NOT_A_SETTING'],
    [['api.port=70000'], '/api/port'],
    [['externalRedis.url=http://redis:6379', 'redis.enabled=false'], '/externalRedis/url'],
    [['externalRedis.url=redis://r:6379'], 'redis.enabled=true and externalRedis are both set'],
    [['redis.enabled=false'], 'no Redis'],
    [['worker.autoscaling.enabled=true', 'worker.keda.enabled=true'], 'KEDA creates its own HPA'],
    [
      ['worker.keda.enabled=true', 'redis.enabled=false', 'externalRedis.url=redis://r:6379'],
      'worker.keda.redis.address',
    ],
    [
      [
        'worker.keda.enabled=true',
        'redis.enabled=false',
        'externalRedis.url=redis://r:6379',
        'worker.keda.redis.address=r:6379',
      ],
      'needs worker.keda.redis.passwordSecret (KEDA must authenticate',
    ],
    [
      ['redis.enabled=false', 'externalRedis.url=redis://r:6379', 'externalRedis.tls.caSecret.name=ca'],
      'externalRedis.tls.caSecret is set but externalRedis.url is not rediss://',
    ],
    [['redis.auth.username=no spaces'], '/redis/auth/username'],
    [['sandbox.namespace=Not_A_Name'], '/sandbox/namespace'],
    [['sandbox.admissionPolicy.failurePolicy=Maybe'], '/sandbox/admissionPolicy/failurePolicy'],
    // Rendered into a CEL list literal: a quote would end the string.
    [["sandbox.admissionPolicy.allowedImages={a'b}"], '/sandbox/admissionPolicy/allowedImages/0'],
  ])('%j', async (set, message) => {
    const result = await helm(templateArgs({ set }));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });
});

describe('helm lint', () => {
  test.each([['values.yaml'], ['values-prod.yaml']])('%s: lints clean with --strict', async (file) => {
    const result = await helm(['lint', CHART_DIR, '--strict', '-f', path.join(CHART_DIR, file)]);
    expect(result.stderr + result.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(result.code).toBe(0);
  });

  test('values-prod.yaml renders external Redis, KEDA, NetworkPolicy and the sandbox namespace', async () => {
    const manifests = await render({ files: ['values-prod.yaml'] });
    const kinds = new Set(manifests.map((m) => m.kind));
    for (const kind of ['ScaledObject', 'TriggerAuthentication', 'NetworkPolicy', 'Namespace', 'Ingress'])
      expect(kinds).toContain(kind);
    expect(kinds).not.toContain('StatefulSet');
    expect(manifests.filter((m) => m.kind === 'Secret')).toEqual([]); // existingSecret + externalRedis.existingSecret
    const env = podSpec(find(manifests, 'Deployment', `${fullname}-worker`)).containers[0]!.env!;
    expect(env).toEqual([
      { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'ci-fixer-redis', key: 'REDIS_URL' } } },
    ]);
  });
});

/**
 * The chart on a real Kubernetes control plane (scripts/dev-cluster: kube-apiserver, controllers, scheduler
 * and a KWOK fake node; nothing runs in the pods, KWOK only reports them Running). Every rendered manifest
 * passes a server-side dry-run; the chart installs, upgrades and rolls back with helm.
 * Fails, never skips, when the cluster is not up: CI starts it (`scripts/dev-cluster up`).
 *
 * NetworkPolicies: the apiserver accepts the chart's policies and the kubernetes driver's preflight (as the
 * chart's own worker ServiceAccount) passes with them and fails without them. Whether traffic is actually
 * blocked cannot be proven here: the KWOK node has no CNI, so nothing enforces a NetworkPolicy and no pod has
 * a network. That needs a real node with a NetworkPolicy implementation (docs/sandbox.md).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { KubernetesDriver } from '@ci-fixer/sandbox/kubernetes';
import {
  CHART_DIR,
  REPO_ROOT,
  helm as helmLocal,
  parseManifests,
  templateArgs,
  type Manifest,
} from './helm.ts';
import { connectCluster, installIntegrationCrds, type Cluster } from './kube.ts';

const NS = 'ci-fixer-chart-test';
const SANDBOX_NS = 'ci-fixer-chart-test-sandboxes';
const RELEASE = 'cfc';
const FULLNAME = `${RELEASE}-ci-fixer`;
const PV = `${NS}-redis`;

let cluster: Cluster;

async function deleteQuietly(args: string[]): Promise<void> {
  await cluster
    .kubectl(['delete', '--ignore-not-found', '--wait=true', '--timeout=60s', ...args])
    .catch(() => {});
}

async function cleanUp(): Promise<void> {
  await cluster.helm(['uninstall', RELEASE, '-n', NS, '--wait', '--timeout', '60s']).catch(() => {});
  await deleteQuietly(['namespace', NS, SANDBOX_NS, `${NS}-dry`, `${NS}-dry-sandboxes`]);
  await deleteQuietly(['pv', PV]);
}

beforeAll(async () => {
  cluster = await connectCluster();
  await cleanUp();
  await installIntegrationCrds(cluster);
}, 240_000);

afterAll(async () => {
  if (cluster) await cleanUp();
}, 180_000);

describe('server-side dry-run of every rendered manifest', () => {
  const variants: [string, { files?: string[]; set?: string[] }][] = [
    ['values.yaml', {}],
    ['values-prod.yaml', { files: ['values-prod.yaml'], set: [`sandbox.namespace=${NS}-dry-sandboxes`] }],
    ['ingress', { set: ['api.ingress.enabled=true', 'api.ingress.className=nginx'] }],
    ['hpa', { set: ['worker.autoscaling.enabled=true'] }],
    ['keda', { set: ['worker.keda.enabled=true'] }],
    [
      'keda with external Redis and auth',
      {
        set: [
          'redis.enabled=false',
          'externalRedis.url=rediss://:pw@redis.internal:6380/0',
          'worker.keda.enabled=true',
          'worker.keda.redis.address=redis.internal:6380',
          'worker.keda.redis.enableTLS=true',
          'worker.keda.redis.passwordSecret.name=redis-auth',
          'worker.keda.redis.passwordSecret.key=password',
        ],
      },
    ],
    ['serviceMonitor', { set: ['serviceMonitor.enabled=true'] }],
    ['networkPolicy off', { set: ['sandbox.networkPolicy.enabled=false'] }],
    [
      'sandboxes in the release namespace (allowed explicitly)',
      { set: [`sandbox.namespace=${NS}-dry`, 'sandbox.allowReleaseNamespace=true'] },
    ],
    ['Redis ACL user', { set: ['redis.auth.username=cifixer', 'worker.keda.enabled=true'] }],
    [
      'external Redis over TLS with a CA',
      {
        set: [
          'redis.enabled=false',
          'externalRedis.url=rediss://app:pw@redis.internal:6380/0',
          'externalRedis.tls.caSecret.name=redis-ca',
        ],
      },
    ],
    ['existingSecret', { set: ['existingSecret=my-credentials'] }],
  ];

  beforeAll(async () => {
    // Namespaced objects need their namespace to exist even for a dry-run; the chart's own Namespace object
    // (values-prod.yaml, createNamespace) is dry-run too, after that.
    await cluster.kubectl(['create', 'namespace', `${NS}-dry`]);
    await cluster.kubectl(['create', 'namespace', `${NS}-dry-sandboxes`]);
  });

  test.each(variants)('%s', async (_name, options) => {
    const rendered = await cluster.helm(templateArgs({ ...options, namespace: `${NS}-dry` }));
    const manifests = parseManifests(rendered);
    expect(manifests.length).toBeGreaterThan(10);
    const out = await cluster.kubectl(
      ['apply', '--dry-run=server', '--server-side', '--field-manager=chart-test', '-f', '-'],
      rendered,
    );
    // One line per object, each accepted by the apiserver (validation, defaulting, admission, CRD schemas).
    const applied = out.trim().split('\n').filter(Boolean);
    expect(applied).toHaveLength(manifests.length);
    for (const line of applied)
      expect(line).toMatch(/(serverside-applied|created|configured|unchanged) \(server dry run\)$/);
  });
});

async function manifestOf(revision: number): Promise<Manifest[]> {
  return parseManifests(
    await cluster.helm(['get', 'manifest', RELEASE, '-n', NS, '--revision', String(revision)]),
  );
}

async function valuesOf(revision: number): Promise<unknown> {
  return parse(
    await cluster.helm(['get', 'values', RELEASE, '-n', NS, '--revision', String(revision), '-o', 'yaml']),
  );
}

interface Pod {
  metadata: { name: string; uid: string; labels: Record<string, string> };
  status: { phase: string };
}

async function pods(component: string): Promise<Pod[]> {
  const out = await cluster.kubectl([
    'get',
    'pods',
    '-n',
    NS,
    '-l',
    `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=${component}`,
    '-o',
    'json',
  ]);
  return (JSON.parse(out) as { items: Pod[] }).items;
}

async function runningPods(component: string, count: number): Promise<Pod[]> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const found = await pods(component);
    const running = found.filter((pod) => pod.status.phase === 'Running');
    if (running.length === count && found.length === count) return running;
    if (Date.now() > deadline) {
      throw new Error(
        `${component}: wanted ${count} Running pods, have ${found.map((p) => `${p.metadata.name}=${p.status.phase}`).join(', ') || 'none'}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function apiToken(): Promise<string> {
  const out = await cluster.kubectl([
    'get',
    'secret',
    FULLNAME,
    '-n',
    NS,
    '-o',
    'jsonpath={.data.CI_FIXER_API_TOKEN}',
  ]);
  return Buffer.from(out, 'base64').toString();
}

let redisPassword: string;

async function redisPasswordOf(): Promise<string> {
  const out = await cluster.kubectl([
    'get',
    'secret',
    `${FULLNAME}-redis-auth`,
    '-n',
    NS,
    '-o',
    'jsonpath={.data.password}',
  ]);
  return Buffer.from(out, 'base64').toString();
}

/**
 * The kubernetes driver as the chart's worker ServiceAccount (a short-lived token from the TokenRequest API),
 * loaded the way the worker loads it: from KUBECONFIG.
 */
async function workerDriver(requireNetworkPolicy?: boolean): Promise<KubernetesDriver> {
  const token = (
    await cluster.kubectl(['create', 'token', `${FULLNAME}-worker`, '-n', NS, '--duration', '10m'])
  ).trim();
  const server = JSON.parse(await cluster.kubectl(['config', 'view', '--minify', '--raw', '-o', 'json'])) as {
    clusters: { cluster: Record<string, string> }[];
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cif-chart-worker-'));
  const file = path.join(dir, 'kubeconfig');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'dev', cluster: server.clusters[0]!.cluster }],
      users: [{ name: 'chart-worker', user: { token } }],
      contexts: [{ name: 'dev', context: { cluster: 'dev', user: 'chart-worker' } }],
      'current-context': 'dev',
    }),
    { mode: 0o600 },
  );
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = file;
  try {
    return new KubernetesDriver({
      namespace: SANDBOX_NS,
      ...(requireNetworkPolicy === undefined ? {} : { requireNetworkPolicy }),
    });
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The chart's objects without what differs between revisions by design. */
function comparable(manifests: Manifest[]): Record<string, unknown> {
  return Object.fromEntries(manifests.map((m) => [`${m.kind}/${m.metadata.name}`, m]));
}

describe('helm install, upgrade and rollback (values.yaml)', () => {
  let apiPodUid: string;
  let token: string;

  test('install: API, worker and Redis pods become Running on the KWOK node', async () => {
    await cluster.kubectl(['create', 'namespace', NS]);
    // A volume for the bundled Redis' claim (the dev cluster has no provisioner).
    await cluster.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: PV },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          storageClassName: '',
          hostPath: { path: `/tmp/${PV}` },
          claimRef: { namespace: NS, name: `data-${FULLNAME}-redis-0` },
        },
      }),
    );
    const started = Date.now();
    // Non-default settings, so the upgrade below can prove it keeps them.
    await cluster.helm([
      'install',
      RELEASE,
      CHART_DIR,
      '-n',
      NS,
      '-f',
      `${CHART_DIR}/values.yaml`,
      '--set',
      'config.LOG_LEVEL=debug',
      '--set',
      'api.replicaCount=1',
      // sandbox.namespace left to its default: <release namespace>-sandboxes, created by the chart.
      '--wait',
      '--timeout',
      '120s',
    ]);
    console.log(`helm install --wait took ${Date.now() - started} ms`);
    const [api] = await runningPods('api', 1);
    await runningPods('worker', 1);
    await runningPods('redis', 1);
    apiPodUid = api!.metadata.uid;
    token = await apiToken();
    expect(token).toMatch(/^[A-Za-z0-9]{48}$/);
    // The worker can do in the sandbox namespace exactly what the shared rules allow, and nothing elsewhere.
    const as = `system:serviceaccount:${NS}:${FULLNAME}-worker`;
    const can = async (verb: string, resource: string, ns: string, ...extra: string[]) =>
      (
        await cluster
          .kubectl(['auth', 'can-i', verb, resource, ...extra, '-n', ns, '--as', as])
          .catch(() => 'no')
      ).trim();
    expect(await can('create', 'jobs.batch', SANDBOX_NS)).toBe('yes');
    expect(await can('create', 'pods', SANDBOX_NS, '--subresource=exec')).toBe('yes');
    expect(await can('get', 'pods', SANDBOX_NS, '--subresource=exec')).toBe('yes');
    expect(await can('get', 'secrets', SANDBOX_NS)).toBe('no');
    expect(await can('create', 'jobs.batch', NS)).toBe('no');
    expect(await can('list', 'networkpolicies.networking.k8s.io', SANDBOX_NS)).toBe('yes');
    expect(await can('create', 'networkpolicies.networking.k8s.io', SANDBOX_NS)).toBe('no');
    redisPassword = await redisPasswordOf();
    expect(redisPassword).toMatch(/^[A-Za-z0-9]{40}$/);
  }, 180_000);

  test('install: the sandbox namespace enforces Pod Security `restricted`, the policies are live objects', async () => {
    const namespace = JSON.parse(await cluster.kubectl(['get', 'namespace', SANDBOX_NS, '-o', 'json'])) as {
      metadata: { labels: Record<string, string> };
    };
    expect(namespace.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const names = async (ns: string) =>
      (
        JSON.parse(await cluster.kubectl(['get', 'networkpolicies', '-n', ns, '-o', 'json'])) as {
          items: { metadata: { name: string } }[];
        }
      ).items
        .map((p) => p.metadata.name)
        .sort();
    expect(await names(SANDBOX_NS)).toEqual([`${FULLNAME}-sandbox-deny`, `${FULLNAME}-sandbox-egress`]);
    expect(await names(NS)).toEqual([`${FULLNAME}-api`, `${FULLNAME}-redis`, `${FULLNAME}-worker`]);
    // Pod Security is enforced, not just labelled: a privileged pod is refused there.
    const refused = await cluster
      .kubectl(
        ['apply', '--dry-run=server', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'psa-probe', namespace: SANDBOX_NS },
          spec: { containers: [{ name: 'c', image: 'x', securityContext: { privileged: true } }] },
        }),
      )
      .then(
        () => 'admitted',
        (error: Error) => error.message,
      );
    expect(refused).toMatch(/violates PodSecurity "restricted:latest"/);
  });

  test('install: REDIS_URL comes from the password Secret; no ConfigMap holds it', async () => {
    for (const workload of ['api', 'worker']) {
      const deployment = JSON.parse(
        await cluster.kubectl(['get', 'deployment', `${FULLNAME}-${workload}`, '-n', NS, '-o', 'json']),
      ) as { spec: { template: { spec: { containers: { env: unknown[] }[] } } } };
      expect(deployment.spec.template.spec.containers[0]!.env).toEqual([
        {
          name: 'REDIS_PASSWORD',
          valueFrom: { secretKeyRef: { name: `${FULLNAME}-redis-auth`, key: 'password' } },
        },
        { name: 'REDIS_URL', value: `redis://:$(REDIS_PASSWORD)@${FULLNAME}-redis:6379` },
      ]);
    }
    const configMaps = await cluster.kubectl(['get', 'configmaps', '-n', NS, '-o', 'json']);
    expect(configMaps).not.toContain(redisPassword);
    expect(configMaps).not.toContain('REDIS_URL');
    // Nor does what helm stores as the release's values.
    expect(JSON.stringify(await valuesOf(1))).not.toContain(redisPassword);
  });

  test('the driver’s preflight, as the chart’s worker ServiceAccount: passes with the policies, fails closed without', async () => {
    const worker = await workerDriver();
    await worker.preflight(); // throws when it fails
    const deny = `${FULLNAME}-sandbox-deny`;
    const saved = await cluster.kubectl(['get', 'networkpolicy', deny, '-n', SANDBOX_NS, '-o', 'json']);
    await cluster.kubectl(['delete', 'networkpolicy', deny, '-n', SANDBOX_NS]);
    try {
      await expect(worker.preflight()).rejects.toThrow(
        new RegExp(
          `sandbox pods in namespace ${SANDBOX_NS} would not be confined: no NetworkPolicy restricts ingress of ci-fixer.dev/network=none sandbox pods.*K8S_REQUIRE_NETWORK_POLICY=false`,
        ),
      );
      // Turned off explicitly, it runs (RBAC is still checked).
      await (await workerDriver(false)).preflight(); // throws when it fails
    } finally {
      // Put the chart's object back as it was, without the server-set fields of the deleted one.
      const { metadata, ...rest } = JSON.parse(saved) as { metadata: Record<string, unknown> };
      const { resourceVersion: _v, uid: _u, creationTimestamp: _c, managedFields: _m, ...kept } = metadata;
      await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({ ...rest, metadata: kept }));
    }
    await worker.preflight(); // throws when it fails
  });

  test('upgrade --set worker.replicaCount=3: three workers, every other value and object unchanged', async () => {
    await cluster.helm([
      'upgrade',
      RELEASE,
      CHART_DIR,
      '-n',
      NS,
      '--reuse-values',
      '--set',
      'worker.replicaCount=3',
      '--wait',
      '--timeout',
      '120s',
    ]);
    expect(await runningPods('worker', 3)).toHaveLength(3);
    const before = (await valuesOf(1)) as Record<string, Record<string, unknown>>;
    const after = (await valuesOf(2)) as Record<string, Record<string, unknown>>;
    expect(after).toEqual({ ...before, worker: { ...before.worker, replicaCount: 3 } });
    const rev1 = comparable(await manifestOf(1));
    const rev2 = comparable(await manifestOf(2));
    expect(Object.keys(rev2).sort()).toEqual(Object.keys(rev1).sort());
    const worker = `Deployment/${FULLNAME}-worker`;
    for (const key of Object.keys(rev1)) {
      if (key !== worker) expect(rev2[key], key).toEqual(rev1[key]);
    }
    const workerBefore = rev1[worker] as { spec: Record<string, unknown> };
    const workerAfter = rev2[worker] as { spec: Record<string, unknown> };
    expect(workerAfter.spec).toEqual({ ...workerBefore.spec, replicas: 3 });
    // The API was not restarted, and the generated token and Redis password survived the upgrade.
    expect((await runningPods('api', 1))[0]!.metadata.uid).toBe(apiPodUid);
    expect(await apiToken()).toBe(token);
    expect(await redisPasswordOf()).toBe(redisPassword);
  }, 180_000);

  test('rollback to revision 1 restores its values and objects', async () => {
    await cluster.helm(['rollback', RELEASE, '1', '-n', NS, '--wait', '--timeout', '120s']);
    const history = JSON.parse(await cluster.helm(['history', RELEASE, '-n', NS, '-o', 'json'])) as {
      revision: number;
      status: string;
    }[];
    expect(history.map((h) => [h.revision, h.status])).toEqual([
      [1, 'superseded'],
      [2, 'superseded'],
      [3, 'deployed'],
    ]);
    expect(await valuesOf(3)).toEqual(await valuesOf(1));
    expect(comparable(await manifestOf(3))).toEqual(comparable(await manifestOf(1)));
    const live = JSON.parse(
      await cluster.kubectl(['get', 'deployment', `${FULLNAME}-worker`, '-n', NS, '-o', 'json']),
    ) as { spec: { replicas: number } };
    expect(live.spec.replicas).toBe(1);
    await runningPods('worker', 1);
    expect(await apiToken()).toBe(token);
    expect(await redisPasswordOf()).toBe(redisPassword);
  }, 180_000);
});

describe('refused on the real apiserver too', () => {
  test('sandboxes in the release namespace without the override: helm install fails and creates nothing', async () => {
    const result = await helmLocal(
      ['install', `${RELEASE}-shared`, CHART_DIR, '-n', `${NS}-dry`, '--set', `sandbox.namespace=${NS}-dry`],
      cluster.env,
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`sandbox.namespace is the release namespace (${NS}-dry)`);
    // helm 4 lists releases in every status by default (failed, pending) without flags.
    const releases = await cluster.helm(['list', '-n', `${NS}-dry`, '-q']);
    expect(releases.trim()).toBe('');
  });
});

describe('scripts/dev-cluster gives its sandbox namespace what the chart gives', () => {
  // The dev cluster's release and sandbox namespaces (scripts/dev-cluster: RELEASE_NS, SANDBOX_NS).
  const DEV_NS = 'ci-fixer';
  const DEV_SANDBOX_NS = 'ci-fixer-sandboxes';
  const POLICIES_FILE = path.join(REPO_ROOT, 'scripts', 'dev-cluster.d', 'sandbox-networkpolicies.yaml');
  type Policy = Manifest & { spec: unknown };
  // What must agree; labels differ on purpose (helm's release labels vs managed-by=dev-cluster).
  const essence = (policies: Policy[]) =>
    policies
      .map((p) => ({ kind: p.kind, name: p.metadata.name, namespace: p.metadata.namespace, spec: p.spec }))
      .sort((a, b) => a.name.localeCompare(b.name));

  async function chartRendering(showOnly: string): Promise<Manifest[]> {
    const result = await helmLocal([
      'template',
      DEV_NS,
      CHART_DIR,
      '--namespace',
      DEV_NS,
      '--set',
      `sandbox.namespace=${DEV_SANDBOX_NS}`,
      '--show-only',
      showOnly,
    ]);
    if (result.code !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
    return parseManifests(result.stdout);
  }

  test('scripts/dev-cluster.d/sandbox-networkpolicies.yaml is the chart’s rendering, and up applied it', async () => {
    const chart = essence((await chartRendering('templates/sandbox-networkpolicy.yaml')) as Policy[]);
    expect(chart.map((p) => p.name)).toEqual(['ci-fixer-sandbox-deny', 'ci-fixer-sandbox-egress']);
    const file = essence(parseManifests(readFileSync(POLICIES_FILE, 'utf8')) as Policy[]);
    // On a mismatch: regenerate the file with the command in its header.
    expect(file).toEqual(chart);
    const live = JSON.parse(
      await cluster.kubectl(['get', 'networkpolicies', '-n', DEV_SANDBOX_NS, '-o', 'json']),
    ) as { items: Policy[] };
    const ours = live.items.filter((p) => chart.some((c) => c.name === p.metadata.name));
    expect(essence(ours)).toEqual(chart);
  });

  test('the sandbox namespace has the chart’s Pod Security labels (restricted enforced)', async () => {
    const [chartNamespace] = await chartRendering('templates/sandbox-namespace.yaml');
    const wanted = Object.fromEntries(
      Object.entries(chartNamespace!.metadata.labels ?? {}).filter(([key]) =>
        key.startsWith('pod-security.kubernetes.io/'),
      ),
    );
    expect(wanted['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const live = JSON.parse(await cluster.kubectl(['get', 'namespace', DEV_SANDBOX_NS, '-o', 'json'])) as {
      metadata: { labels: Record<string, string> };
    };
    expect(
      Object.fromEntries(
        Object.entries(live.metadata.labels).filter(([key]) => key.startsWith('pod-security.kubernetes.io/')),
      ),
    ).toEqual(wanted);
  });
});

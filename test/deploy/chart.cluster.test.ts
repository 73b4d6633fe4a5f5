/**
 * The chart on a real Kubernetes control plane (scripts/dev-cluster: kube-apiserver, controllers, scheduler
 * and a KWOK fake node; nothing runs in the pods, KWOK only reports them Running). Every rendered manifest
 * passes a server-side dry-run; the chart installs, upgrades and rolls back with helm.
 * Fails, never skips, when the cluster is not up: CI starts it (`scripts/dev-cluster up`).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { CHART_DIR, parseManifests, templateArgs, type Manifest } from './helm.ts';
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
    ['networkPolicy', { set: ['sandbox.networkPolicy.enabled=true'] }],
    [
      'separate sandbox namespace',
      { set: [`sandbox.namespace=${NS}-dry-sandboxes`, 'sandbox.createNamespace=true'] },
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
      '--set',
      `sandbox.namespace=${SANDBOX_NS}`,
      '--set',
      'sandbox.createNamespace=true',
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
  }, 180_000);

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
    // The API was not restarted, and the generated token survived the upgrade.
    expect((await runningPods('api', 1))[0]!.metadata.uid).toBe(apiPodUid);
    expect(await apiToken()).toBe(token);
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
  }, 180_000);
});

/**
 * The kubernetes driver's Jobs on the dev cluster's real API server and controllers: the pod spec it
 * creates, how it reports pods that cannot start, and how Jobs of a killed worker go away (reaper, and
 * ttlSecondsAfterFinished). Acts as the worker ServiceAccount; the admin kubeconfig only sets up and
 * inspects. Uses Redis DB 11. Needs `scripts/dev-cluster up`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { BatchV1Api, CoreV1Api, NodeV1Api, type V1Job } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heartbeatKey } from '@ci-fixer/queue';
import { LABELS, MANAGED_BY, reapOrphans, type Sandbox } from '../src/index.ts';
import { type KubernetesDriver } from '../src/kubernetes/index.ts';
import { buildJob } from '../src/kubernetes/job-spec.ts';
import { startTestRedis, type TestRedis } from '../../../test/support/redis.ts';
import { devCluster, workerDriver, type DevCluster } from './kubernetes-cluster.ts';

let cluster: DevCluster;
const owner = `k8s-lifecycle-${randomBytes(3).toString('hex')}`;
const labels = (extra: Record<string, string> = {}) => ({
  [LABELS.managedBy]: MANAGED_BY,
  [LABELS.owner]: owner,
  ...extra,
});

beforeAll(async () => {
  cluster = await devCluster();
});

/** Reads a Job as the admin, or undefined once it is gone. */
async function readJob(name: string): Promise<V1Job | undefined> {
  try {
    return await cluster.admin
      .makeApiClient(BatchV1Api)
      .readNamespacedJob({ name, namespace: cluster.namespace });
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

/** Waits for something the cluster's controllers do on their own schedule; fails with `what` if it never happens. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  limitMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('the sandbox Job and pod spec', () => {
  const runtimeClass = `cif-test-${randomBytes(3).toString('hex')}`;
  let driver: KubernetesDriver;
  let sandbox: Sandbox;

  beforeAll(async () => {
    // runtimeClassName must name an existing RuntimeClass or admission refuses the pod.
    await cluster.admin
      .makeApiClient(NodeV1Api)
      .createRuntimeClass({ body: { metadata: { name: runtimeClass }, handler: 'runc' } });
    driver = await workerDriver({
      cpus: 0.5,
      memoryBytes: 256 * 1_048_576,
      ephemeralStorageBytes: 1024 * 1_048_576,
      ttlSecondsAfterFinished: 77,
      runtimeClassName: runtimeClass,
      tolerations: [{ key: 'ci-fixer.dev/sandbox', operator: 'Exists', effect: 'NoSchedule' }],
      imagePullSecrets: ['sandbox-registry'],
    });
    sandbox = await driver.create({
      labels: labels({ [LABELS.fixJob]: 'Job_42.Retry' }),
      image: 'registry.example/toolchain:1',
      maxLifetimeSeconds: 600,
    });
  });
  afterAll(async () => {
    await sandbox?.destroy();
    await cluster.admin.makeApiClient(NodeV1Api).deleteRuntimeClass({ name: runtimeClass });
  });

  it('names the Job after the fix job, DNS-safe, with a random suffix', () => {
    expect(sandbox.id).toMatch(/^cif-job-42-retry-[0-9a-f]{8}$/);
  });

  it('is a Job that runs once, stops itself, and is deleted after it finishes', async () => {
    const job = (await readJob(sandbox.id))!;
    expect(job.spec?.backoffLimit).toBe(0);
    expect(job.spec?.ttlSecondsAfterFinished).toBe(77);
    expect(job.spec?.activeDeadlineSeconds).toBeGreaterThanOrEqual(600);
    expect(job.spec?.activeDeadlineSeconds).toBeLessThanOrEqual(700);
    expect(job.metadata?.labels).toMatchObject({
      [LABELS.managedBy]: MANAGED_BY,
      [LABELS.owner]: owner,
      [LABELS.fixJob]: 'Job_42.Retry',
      'app.kubernetes.io/name': 'ci-fixer-sandbox',
    });
    const pod = job.spec!.template.spec!;
    expect(pod.restartPolicy).toBe('Never');
    // A bounded keep-alive (not `tail -f /dev/null`), so the pod completes and the TTL applies.
    expect(pod.containers[0]!.command).toEqual(['sleep', '600']);
  });

  it('runs a pod with no API access, no service links, and the restricted security profile', async () => {
    const [pod] = (
      await cluster.admin.makeApiClient(CoreV1Api).listNamespacedPod({
        namespace: cluster.namespace,
        labelSelector: `ci-fixer.dev/sandbox=${sandbox.id}`,
      })
    ).items;
    const spec = pod!.spec!;
    expect(pod!.metadata?.labels).toMatchObject({ [LABELS.owner]: owner, [LABELS.managedBy]: MANAGED_BY });
    expect(spec.serviceAccountName).toBe('ci-fixer-sandbox');
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.enableServiceLinks).toBe(false);
    expect(spec.volumes?.some((volume) => volume.projected || volume.secret)).toBe(false);
    expect(spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const container = spec.containers[0]!;
    expect(container.image).toBe('registry.example/toolchain:1');
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.securityContext?.privileged).toBeUndefined();
    const resources = {
      cpu: '500m',
      memory: String(256 * 1_048_576),
      'ephemeral-storage': String(1024 * 1_048_576),
    };
    expect(container.resources?.limits).toEqual(resources);
    expect(container.resources?.requests).toEqual(resources);
    expect(spec.runtimeClassName).toBe(runtimeClass);
    expect(spec.tolerations).toContainEqual({
      key: 'ci-fixer.dev/sandbox',
      operator: 'Exists',
      effect: 'NoSchedule',
    });
    expect(spec.imagePullSecrets).toEqual([{ name: 'sandbox-registry' }]);
  });
});

describe('Pod Security', () => {
  // The sandbox namespace enforces `restricted`, as the chart's does. Admission enforces it on pods only; for
  // a Job's pod template it warns, and a server-side dry run returns the warnings in the response headers.
  async function warningsFor(mutate: (job: V1Job) => void): Promise<string | undefined> {
    const driver = await workerDriver();
    const body = buildJob(driver.settings, {
      name: `cif-pss-${randomBytes(3).toString('hex')}`,
      labels: labels(),
      network: 'none',
      maxLifetimeSeconds: 60,
    });
    mutate(body);
    const response = await cluster.worker
      .makeApiClient(BatchV1Api)
      .createNamespacedJobWithHttpInfo({ namespace: cluster.namespace, body, dryRun: 'All' });
    return response.headers.warning;
  }

  it('admits the sandbox pod under the `restricted` profile without a warning', async () => {
    expect(await warningsFor(() => {})).toBeUndefined();
  });

  it('would warn if the pod kept its capabilities (the check above is live)', async () => {
    const warning = await warningsFor((job) => {
      job.spec!.template.spec!.containers[0]!.securityContext!.capabilities = {};
    });
    expect(warning).toMatch(/would violate PodSecurity.*restricted.*capabilities\.drop/);
  });

  it('refuses a pod that violates `restricted` (enforced, as in the chart, not only warned)', async () => {
    const driver = await workerDriver();
    const template = buildJob(driver.settings, {
      name: `cif-pss-${randomBytes(3).toString('hex')}`,
      labels: labels(),
      network: 'none',
      maxLifetimeSeconds: 60,
    }).spec!.template;
    template.spec!.containers[0]!.securityContext!.capabilities = {};
    // A bare pod, as the admin (the worker may not create pods), dry run: admission runs, nothing is stored.
    const refused = await cluster.admin
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({
        namespace: cluster.namespace,
        body: {
          metadata: { name: `cif-pss-${randomBytes(3).toString('hex')}`, labels: labels() },
          spec: template.spec,
        },
        dryRun: 'All',
      })
      .then(
        () => undefined,
        (error: unknown) => error as { code?: number; body?: string },
      );
    expect(refused?.code).toBe(403);
    const status = JSON.parse(String(refused?.body)) as { message?: string };
    expect(status.message).toMatch(
      /forbidden: violates PodSecurity "restricted:latest": unrestricted capabilities/,
    );
  });
});

describe('a pod that cannot start', () => {
  it('fails creation naming the cause when no node matches (Unschedulable), and leaves no Job', async () => {
    const driver = await workerDriver({
      nodeSelector: { 'ci-fixer.dev/pool': 'nowhere' },
      podReadyTimeoutMs: 4000,
    });
    const failure = driver.create({ labels: labels() });
    await expect(failure).rejects.toThrow(
      /did not start: its pod was not running after 4s: Unschedulable: .*node affinity\/selector/,
    );
    expect(await driver.list({ [LABELS.owner]: owner })).toEqual([]);
  });

  it('fails at once when admission refuses the pod (FailedCreate on the Job)', async () => {
    const driver = await workerDriver({ runtimeClassName: 'no-such-runtime', podReadyTimeoutMs: 60_000 });
    await expect(driver.create({ labels: labels() })).rejects.toThrow(
      /did not start: FailedCreate: .*RuntimeClass "no-such-runtime" not found/,
    );
    expect(await driver.list({ [LABELS.owner]: owner })).toEqual([]);
  });
});

describe('Jobs left behind by a killed worker', () => {
  let server: TestRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('are reaped once the owner heartbeat is gone', async () => {
    const deadOwner = `${owner}-killed`;
    const child = spawn(
      process.execPath,
      [
        path.join(import.meta.dirname, 'support', 'k8s-owner.ts'),
        server.url,
        heartbeatKey(deadOwner),
        deadOwner,
        cluster.env.KUBECONFIG!,
        cluster.namespace,
        cluster.workspaceDir,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const id = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
      child.once('exit', (code) =>
        reject(new Error(`the owner process exited (${code}) before creating a sandbox`)),
      );
    });
    child.kill('SIGKILL');
    const driver = await workerDriver();
    // Only the killed owner's heartbeat lives in this private Redis; sandboxes of other test files running at the
    // same time are not this test's to reap.
    const isOwnerAlive = async (candidate: string) =>
      candidate !== deadOwner || (await redis.exists(heartbeatKey(candidate))) === 1;
    expect(await isOwnerAlive(deadOwner)).toBe(true);
    // While the heartbeat lives, the sandbox is left alone.
    expect((await reapOrphans(driver, { isOwnerAlive })).reaped).not.toContain(id);
    await eventually('the heartbeat of the killed owner to expire', async () =>
      (await isOwnerAlive(deadOwner)) ? undefined : true,
    );
    const report = await reapOrphans(driver, { isOwnerAlive });
    expect(report.reaped).toContain(id);
    expect(await readJob(id)).toBeUndefined();
    // The garbage collector removes the pod after the Job (Background propagation).
    await eventually('the pod of the reaped Job to be deleted', async () => {
      const pods = await cluster.admin
        .makeApiClient(CoreV1Api)
        .listNamespacedPod({ namespace: cluster.namespace, labelSelector: `ci-fixer.dev/sandbox=${id}` });
      return pods.items.length === 0 ? true : undefined;
    });
  });

  it('are deleted by ttlSecondsAfterFinished once the keep-alive ends, with no worker at all', async () => {
    const driver = await workerDriver({ ttlSecondsAfterFinished: 1 });
    const sandbox = await driver.create({ labels: labels(), maxLifetimeSeconds: 3 });
    expect((await sandbox.exec(['echo', 'alive'])).stdout).toBe('alive\n');
    // Nobody calls destroy(): the pod completes when `sleep 3` would end, the Job finishes, the TTL
    // controller deletes it.
    const finished = await eventually('the sandbox Job to complete', async () => {
      const job = await readJob(sandbox.id);
      return job?.status?.conditions?.find((c) => c.type === 'Complete' && c.status === 'True');
    });
    expect(finished.type).toBe('Complete');
    await eventually('the TTL controller to delete the finished Job', async () =>
      (await readJob(sandbox.id)) ? undefined : true,
    );
    expect((await driver.list()).map((info) => info.id)).not.toContain(sandbox.id);
  });
});

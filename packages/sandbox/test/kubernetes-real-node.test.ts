/**
 * The Kubernetes driver on the dev cluster's real node (kubelet + containerd + runc), as the worker
 * ServiceAccount: the whole sandbox contract in real containers, then what the pod spec promises, checked
 * from inside the container. Needs `scripts/dev-cluster up` on a machine where the real node starts.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS, MANAGED_BY, type Sandbox } from '../src/index.ts';
import { K8S_DEFAULTS } from '../src/kubernetes/index.ts';
import type { KubernetesDriver } from '../src/kubernetes/index.ts';
import { sandboxContract } from './contract.ts';
import { devCluster, realNode, realNodeDriver } from './kubernetes-cluster.ts';

sandboxContract('kubernetes (dev-cluster real node)', async () => ({ driver: await realNodeDriver() }));

describe('kubernetes driver on the real node: the pod as seen from inside', () => {
  const owner = `real-node-${randomBytes(4).toString('hex')}`;
  const labels = { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: owner };
  let driver: KubernetesDriver;
  let sandbox: Sandbox;
  const sh = async (script: string) => sandbox.exec(['sh', '-c', script]);

  beforeAll(async () => {
    driver = await realNodeDriver();
    sandbox = await driver.create({ labels });
  });
  afterAll(async () => sandbox?.destroy());

  it('runs on the real node, in its own container', async () => {
    const cluster = await devCluster();
    const pods = await cluster.admin
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: cluster.namespace, labelSelector: `job-name=${sandbox.id}` });
    expect(pods.items.map((pod) => pod.spec?.nodeName)).toEqual([await realNode()]);
    // PID 1 is the keep-alive `sleep`, not the host's init: the container has its own PID namespace.
    expect((await sh('cat /proc/1/cmdline | tr "\\0" " "')).stdout.trim()).toMatch(/^sleep \d+$/);
  });

  it('runs commands as the non-root sandbox user with no capabilities, NoNewPrivs and seccomp', async () => {
    const id = await sh('id -u; id -g');
    expect(id.stdout).toBe(`${driver.settings.uid}\n${driver.settings.gid}\n`);
    const status = (await sh('cat /proc/self/status')).stdout;
    for (const line of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
      expect(status).toMatch(new RegExp(`^${line}:\\s+0{16}$`, 'm'));
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    // 2 = SECCOMP_MODE_FILTER: the RuntimeDefault profile is loaded.
    expect(status).toMatch(/^Seccomp:\s+2$/m);
  });

  it('mounts no service-account token', async () => {
    const result = await sh('ls /var/run/secrets/kubernetes.io/serviceaccount 2>&1; echo "rc=$?"');
    expect(result.stdout).toMatch(/No such file or directory\nrc=1\n$/);
  });

  it('writes only where the pod spec gives it volumes', async () => {
    const cluster = await devCluster();
    const pods = await cluster.admin
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: cluster.namespace, labelSelector: `job-name=${sandbox.id}` });
    expect(pods.items[0]?.spec?.containers[0]?.securityContext?.readOnlyRootFilesystem).toBe(true);
    // Read-only even where the image lets the sandbox user write (its own home in the image, /var/tmp).
    const root = await sh('touch /etc/ci-fixer-probe 2>&1; echo "rc=$?"');
    expect(root.stdout).toMatch(/Read-only file system/);
    expect(root.stdout).toMatch(/rc=1/);
    expect((await sh('touch /tmp/probe && touch probe && echo ok')).stdout).toBe('ok\n');
  });

  it('kills the timed-out command inside the container, not just the stream', async () => {
    const result = await sandbox.exec(['sh', '-c', 'sleep 300 & echo $! > sleeper.pid; wait'], {
      timeoutMs: 1000,
    });
    expect(result.timedOut).toBe(true);
    // Dead, or a zombie: the killed command's children are re-parented to the keep-alive `sleep` (PID 1),
    // which never reaps them. A zombie holds no memory and runs nothing.
    const check = await sh(
      'pid=$(cat sleeper.pid); state=$(sed "s/.*) //" /proc/$pid/stat 2>/dev/null | cut -d" " -f1); echo "${state:-gone}"',
    );
    expect(check.stdout).toMatch(/^(gone|Z)\n$/);
  });

  it('surfaces the memory limit as exit 137 (the OOM killer, in the container cgroup)', async () => {
    const small = await driver.create({ labels, limits: { memoryBytes: 64 * 1_048_576 } });
    try {
      // ~200 MB held in a shell variable, against a 64 MiB limit.
      const result = await small.exec([
        'sh',
        '-c',
        'x=$(head -c 209715200 /dev/zero | tr "\\0" a); echo survived',
      ]);
      expect(result.stdout).not.toContain('survived');
      expect(result.exitCode).toBe(137);
    } finally {
      await small.destroy();
    }
  });
});

describe('the sandbox image on the real node', () => {
  it('runs the driver’s default image (ci-fixer/sandbox:latest) from the copy `up` imported, never pulled', async () => {
    // `:latest` would default to pull policy Always, and there is no registry: the pod only starts because
    // the driver sets IfNotPresent and `up` imported the image built by scripts/build-images sandbox.
    const driver = await realNodeDriver({ image: K8S_DEFAULTS.image, podReadyTimeoutMs: 90_000 });
    const owner = `real-node-image-${randomBytes(4).toString('hex')}`;
    const sandbox = await driver.create({
      labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: owner },
    });
    try {
      const cluster = await devCluster();
      const pods = await cluster.admin
        .makeApiClient(CoreV1Api)
        .listNamespacedPod({ namespace: cluster.namespace, labelSelector: `job-name=${sandbox.id}` });
      const container = pods.items[0]?.spec?.containers[0];
      expect(container?.image).toBe('ci-fixer/sandbox:latest');
      expect(container?.imagePullPolicy).toBe('IfNotPresent');
      // The sandbox image's own tools, as its non-root user.
      const result = await sandbox.exec(['sh', '-c', 'git --version && id -u']);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toMatch(/^git version \d+\.\d+.*\n1000\n$/);
    } finally {
      await sandbox.destroy();
    }
  }, 120_000);
});

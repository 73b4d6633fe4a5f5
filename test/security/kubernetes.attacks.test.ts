/**
 * Hostile repository code against the kubernetes driver on the dev cluster's real node (kubelet, containerd,
 * runc), as the worker ServiceAccount, in the sandbox namespace with the chart's NetworkPolicies: `up` applies
 * them from scripts/dev-cluster.d/sandbox-networkpolicies.yaml, which test/deploy/chart.cluster.test.ts holds
 * equal to the chart's rendering, and kube-network-policies enforces them (scripts/dev-cluster.d/
 * network-policies.sh). What the pod spec promises (non-root, no capabilities, seccomp, no token mounted,
 * read-only paths, the OOM kill) is proven in packages/sandbox/test/kubernetes-real-node.test.ts; this file is
 * about what a repository's command can reach and leave behind, with that file's helpers (realNodeDriver in
 * packages/sandbox/test/kubernetes-cluster.ts).
 *
 * Where the traffic goes, all of it on this machine: see kubernetes-support.ts. A control sandbox, in a
 * namespace of the test's own without NetworkPolicies, reaches every stand-in directly: each block below is
 * the policies' (or the egress proxy's) doing, not a missing route or listener. Egress sandboxes get the
 * chart's egress proxy (a pod in the dev cluster's release namespace) and reach the network only through it.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { globSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LABELS, MANAGED_BY, type Sandbox, type SandboxSpec } from '@ci-fixer/sandbox';
import { type KubernetesDriver } from '@ci-fixer/sandbox/kubernetes';
import { devCluster, realNodeDriver } from '../../packages/sandbox/test/kubernetes-cluster.ts';
import { waitFor } from '../support/processes.ts';
import { AttackTable } from './attack-table.ts';
import {
  greeting,
  ip,
  kubectl,
  nodeAddress,
  reach,
  requireEnforcement,
  sandboxPods,
  standIn,
  startEgressProxy,
  TestNetns,
  viaProxy,
} from './kubernetes-support.ts';

const table = new AttackTable('kubernetes (real node)');
const SECRET = `worker-secret-${process.pid}`;
const PLATFORM = ['redis', 'api', 'metrics', 'kube-apiserver'] as const;
/** SANDBOX_EGRESS_PROXY_KEY of this run's egress proxy and driver. */
const PROXY_KEY = randomBytes(32).toString('hex');

describe('hostile repository code on the kubernetes driver (real node, NetworkPolicies enforced)', () => {
  const owner = `attacks-${randomBytes(4).toString('hex')}`;
  const labels = { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: owner };
  const controlNamespace = `cif-attacks-control-${randomBytes(3).toString('hex')}`;
  const netns = new TestNetns();
  const platform: Record<string, Awaited<ReturnType<typeof standIn>>> = {};
  let loopback: Awaited<ReturnType<typeof standIn>>;
  let driver: KubernetesDriver;
  /** network=egress: what the worker creates for a fix (its spec lists the git host and registries). */
  let online: Sandbox;
  /** network=none: a sandbox whose spec asked for no network. */
  let offline: Sandbox;
  /** The same pod, where no NetworkPolicy applies. */
  let control: Sandbox;
  /** Stand-ins' host:port (kubernetes-support.ts): allowed, left off the list, a closed port, a private one. */
  let gitHost: string, registry: string, closedPort: string, privateHost: string, nodeIp: string;
  let proxy: Awaited<ReturnType<typeof startEgressProxy>>;

  const create = (spec: Partial<SandboxSpec> = {}, on = driver) =>
    on.create({ labels, maxLifetimeSeconds: 600, ...spec });
  const sh = (sandbox: Sandbox, script: string, timeoutMs = 20_000) =>
    sandbox.exec(['sh', '-c', script], { timeoutMs });

  /** Why nothing enforces NetworkPolicies, if so: every case then fails with it (a suite error would skip them). */
  let notEnforced: unknown;
  beforeEach(() => {
    if (notEnforced) throw notEnforced;
  });

  beforeAll(async () => {
    notEnforced = await requireEnforcement().then(
      () => undefined,
      (error: unknown) => error,
    );
    if (notEnforced) return;
    process.env.CI_FIXER_TEST_SECRET = SECRET;
    const cluster = await devCluster();
    nodeIp = await nodeAddress();
    for (const name of PLATFORM) platform[name] = await standIn(name, nodeIp);
    loopback = await standIn('redis', '127.0.0.1');
    gitHost = `${netns.publicIp}:443`;
    registry = `${netns.publicIp}:80`;
    closedPort = `${netns.publicIp}:6379`;
    privateHost = `${netns.privateIp}:443`;
    await netns.start([
      { host: netns.publicIp, port: 443, name: 'git host' },
      { host: netns.publicIp, port: 80, name: 'registry' },
      { host: netns.publicIp, port: 6379, name: 'public redis' },
      { host: netns.privateIp, port: 443, name: 'private host' },
    ]);

    proxy = await startEgressProxy(PROXY_KEY);
    const egressProxy = { address: proxy.address, key: PROXY_KEY };
    driver = await realNodeDriver({ egressProxy });
    // By address: the proxy resolves names with cluster DNS, which the dev cluster has none of.
    online = await create({ egress: [gitHost] });
    offline = await create();
    await kubectl('create', 'namespace', controlNamespace);
    await kubectl('create', 'serviceaccount', 'ci-fixer-sandbox', '-n', controlNamespace);
    const unconfined = await realNodeDriver({
      kubeConfig: cluster.admin,
      namespace: controlNamespace,
      requireNetworkPolicy: false,
      egressProxy,
    });
    control = await create({ egress: [gitHost] }, unconfined);
  }, 180_000);

  afterAll(async () => {
    delete process.env.CI_FIXER_TEST_SECRET;
    await Promise.allSettled([online?.destroy(), offline?.destroy(), control?.destroy(), proxy?.stop()]);
    await kubectl('delete', 'namespace', controlNamespace, '--ignore-not-found', '--wait=false').catch(
      () => '',
    );
    netns.stop();
    for (const service of [...Object.values(platform), loopback]) await service?.close();
    table.flush();
  }, 120_000);

  it.each(PLATFORM)("cannot open a TCP connection to the platform %s on the node's address", async (name) => {
    const service = platform[name]!;
    const fromOnline = await reach(online, [service.target]);
    const fromOffline = await reach(offline, [service.target]);
    expect(fromOnline[service.target]).toBe('');
    expect(fromOffline[service.target]).toBe('');
    expect(service.connections()).toBe(0);
    // Without the policies the same pod gets through: the block above is theirs.
    expect((await reach(control, [service.target]))[service.target]).toBe(name);
    expect(service.connections()).toBe(1);
    table.record(`connect to ${name} on the node's address`, 'blocked');
  });

  it('cannot reach the node over IPv6 link-local, which no NetworkPolicy could attribute to a pod', async () => {
    // The pod network is IPv4-only, yet pods and the bridge have fe80:: addresses; the dev node drops IPv6
    // on the bridge (network-policies.sh). A stand-in on the bridge's own link-local address:
    const [bridge] = JSON.parse(ip('-j', '-4', 'addr', 'show', 'to', nodeIp)) as { ifname: string }[];
    const [link] = JSON.parse(ip('-j', '-6', 'addr', 'show', 'dev', bridge!.ifname, 'scope', 'link')) as {
      addr_info: { local: string }[];
    }[];
    const address = link!.addr_info[0]!.local;
    const service = await standIn('redis', `${address}%${bridge!.ifname}`);
    try {
      const port = service.target.split(':').pop()!;
      // It answers on this machine...
      expect(await greeting(`${address}%${bridge!.ifname}`, Number(port))).toBe('redis\n');
      // ...and to no pod, confined or not: the frames never get past the bridge.
      const target = `${address}%eth0:${port}`;
      expect((await reach(online, [target]))[target]).toBe('');
      expect((await reach(control, [target]))[target]).toBe('');
      expect(service.connections()).toBe(1);
      table.record('connect to the node over IPv6 link-local', 'blocked');
    } finally {
      await service.close();
    }
  });

  it('cannot reach a service on host loopback: the pod’s loopback is its own', async () => {
    const target = `127.0.0.1:${loopback.target.split(':')[1]}`;
    expect((await reach(online, [target]))[target]).toBe('');
    expect(loopback.connections()).toBe(0);
    table.record('connect to redis on host loopback', 'blocked');
  });

  it('reaches the allowed git host through the egress proxy, with the credential the driver gave it', async () => {
    const before = netns.connections(gitHost);
    const answer = await viaProxy(online, gitHost);
    expect(answer).toEqual({ status: 'HTTP/1.1 200 Connection Established', body: 'git host\n' });
    expect(netns.connections(gitHost)).toBe(before + 1);
    table.record('reach the allowed git host through the egress proxy', 'allowed');
  });

  it.each([
    ['a public host not in its allow-list', () => registry],
    ['a private address', () => privateHost],
  ] as const)('the egress proxy refuses %s', async (what, target) => {
    const answer = await viaProxy(online, target());
    expect(answer.status).toBe('HTTP/1.1 403 Forbidden');
    expect(answer.body).toContain('is not allowed for this sandbox');
    expect(netns.connections(target())).toBe(0);
    table.record(`reach ${what} through the egress proxy`, 'blocked');
  });

  it('cannot widen its own allow-list: the proxy refuses an altered credential', async () => {
    const url = new URL((await sh(online, 'printf %s "$HTTPS_PROXY"')).stdout);
    const [payload, signature] = url.password.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { allow: string[] };
    expect(claims.allow).toEqual([gitHost]);
    const allow = [gitHost, registry];
    const widened = Buffer.from(JSON.stringify({ ...claims, allow })).toString('base64url');
    const answer = await viaProxy(online, registry, {
      credentials: `${url.username}:${widened}.${signature}`,
    });
    expect(answer.status).toBe('HTTP/1.1 407 Proxy Authentication Required');
    expect(netns.connections(registry)).toBe(0);
    table.record('widen its own egress allow-list', 'blocked');
  });

  it('cannot go around the proxy: not even the allowed git host answers a direct connection', async () => {
    const before = netns.connections(gitHost);
    expect(await reach(online, [gitHost, registry])).toEqual({ [gitHost]: '', [registry]: '' });
    expect(netns.connections(gitHost)).toBe(before);
    expect(netns.connections(registry)).toBe(0);
    // Without the policies the same pod gets through directly: the block above is theirs.
    expect((await reach(control, [gitHost]))[gitHost]).toBe('git host');
    table.record('reach the allowed git host directly, bypassing the proxy', 'blocked');
  });

  it('a network=none sandbox cannot reach the proxy, even with a credential that works', async () => {
    const credentials = decodeURIComponent(
      (await sh(online, 'printf %s "${HTTPS_PROXY#http://}" | sed "s/@.*//"')).stdout,
    );
    const before = netns.connections(gitHost);
    const answer = await viaProxy(offline, gitHost, { credentials, proxy: proxy.address });
    expect(answer).toEqual({ status: '', body: '' });
    expect(netns.connections(gitHost)).toBe(before);
    table.record('network=none sandbox reaches the egress proxy', 'blocked');
  });

  it('a network=none sandbox reaches nothing, not even the git host', async () => {
    const targets = [gitHost, registry, closedPort, privateHost];
    const before = targets.map((target) => netns.connections(target));
    const answers = await reach(offline, targets);
    expect(Object.values(answers)).toEqual(targets.map(() => ''));
    expect(targets.map((target) => netns.connections(target))).toEqual(before);
    table.record('network=none sandbox reaches a public host', 'blocked');
  });

  it.each([
    ['a public address on a port the policy does not allow', () => closedPort, 'public redis'],
    ['a private address', () => privateHost, 'private host'],
  ] as const)('cannot reach %s', async (what, target, greeting) => {
    expect((await reach(online, [target()]))[target()]).toBe('');
    expect(netns.connections(target())).toBe(0);
    expect((await reach(control, [target()]))[target()]).toBe(greeting);
    table.record(`reach ${what}`, 'blocked');
  });

  it('cannot connect to another sandbox pod, nor can anything else', async () => {
    // A listener in the network=none sandbox, as another tenant's dev server would be.
    await sh(
      offline,
      "setsid sh -c 'while :; do echo tenant-b | nc -l -p 8080; done' >/dev/null 2>&1 </dev/null & echo started",
    );
    const podIp = (await sandboxPods(offline))[0]?.status?.podIP;
    expect(podIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const target = `${podIp}:8080`;
    // The node's root processes are not filtered (kube-network-policies lets kubelet probes through): the
    // listener answers them, so the refusals below are the policies'.
    const fromNode = await waitFor('the listener in the sandbox', async () => {
      const line = await greeting(podIp!, 8080);
      return line.includes('tenant-b') ? line : undefined;
    });
    expect(fromNode).toContain('tenant-b');
    expect((await reach(online, [target]))[target]).toBe('');
    expect((await reach(control, [target]))[target]).toBe('');
    table.record("connect to another tenant's sandbox", 'blocked');
  });

  it("finds no secret in any process's environment, and no service-account token", async () => {
    const result = await sh(
      online,
      'cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr "\\0" "\\n"; ls /var/run/secrets/kubernetes.io/serviceaccount 2>&1; find / -xdev -name token -path "*serviceaccount*" 2>/dev/null; echo done',
    );
    expect(result.stdout).not.toContain(SECRET);
    expect(result.stdout).not.toContain('CI_FIXER_TEST_SECRET');
    // Its proxy credential is in its environment; the key that signs credentials is not.
    expect(result.stdout).toContain('HTTPS_PROXY=');
    expect(result.stdout).not.toContain(PROXY_KEY);
    expect(result.stdout).toMatch(/serviceaccount: No such file or directory\ndone\n$/);
    // Only the pod's own processes are visible (its own pid namespace): none of the node's.
    expect(result.stdout).not.toMatch(/kubelet|containerd|vitest/);
    table.record("read the worker's environment", 'blocked');
    table.record('read a service-account token', 'blocked');
  });

  it("cannot see another tenant's sandbox", async () => {
    await offline.writeFile('tenant-b.txt', 'the other tenant’s code');
    const found = await sh(online, 'find / -xdev -name "tenant-*" 2>/dev/null; ls /workspace');
    expect(found.stdout).not.toContain('tenant-b.txt');
    expect(found.stdout).not.toContain(offline.id);
    table.record("read another tenant's workspace", 'blocked');
  });

  it('ends a fork bomb at the pod pids limit and its timeout; the other sandboxes keep working', async () => {
    const bombed = await create();
    try {
      const [pod] = await sandboxPods(bombed);
      // The kubelet's podPidsLimit (a node setting: a pod spec has none) on the pod's cgroup.
      const [cgroup] = globSync(`/sys/fs/cgroup/pids/**/pod${pod!.metadata.uid}`);
      expect(cgroup, 'the pod’s pids cgroup on this node').toBeDefined();
      expect(readFileSync(path.join(cgroup!, 'pids.max'), 'utf8').trim()).toMatch(/^\d+$/);
      const bomb = await sh(bombed, 'bomb() { bomb | bomb & }; bomb; sleep 30', 5_000);
      expect(bomb.timedOut).toBe(true);
    } finally {
      await bombed.destroy();
    }
    expect((await sh(online, 'echo alive')).stdout).toBe('alive\n');
    expect((await sh(offline, 'echo alive')).stdout).toBe('alive\n');
    table.record('fork bomb', 'blocked');
  });

  it('ends a memory hog at the memory limit (exit 137)', async () => {
    const small = await create({ limits: { memoryBytes: 64 * 1_048_576 } });
    try {
      // ~200 MB held in a shell variable, against 64 MiB (as in kubernetes-real-node.test.ts).
      const hog = await sh(small, 'x=$(head -c 209715200 /dev/zero | tr "\\0" a); echo survived', 60_000);
      expect(hog.stdout).not.toContain('survived');
      expect(hog.exitCode).toBe(137);
    } finally {
      await small.destroy();
    }
    expect((await sh(online, 'echo alive')).stdout).toBe('alive\n');
    table.record('memory hog', 'blocked');
  });

  it('leaves no process running after destroy, even one that left its session', async () => {
    const victim = await create();
    const marker = `31337${process.pid % 1000}`;
    const [pod] = await sandboxPods(victim);
    await sh(victim, `setsid sleep ${marker} > /dev/null 2>&1 < /dev/null & echo started`);
    const running = () => spawnSync('pgrep', ['-f', `^sleep ${marker}$`], { encoding: 'utf8' }).stdout.trim();
    // Seen from the node: the container's processes are processes of this machine.
    expect(running()).not.toBe('');
    await victim.destroy();
    const { namespace } = await devCluster();
    await waitFor(
      'the destroyed sandbox’s pod to be gone',
      async () =>
        (await kubectl(
          'get',
          'pod',
          pod!.metadata.name,
          '-n',
          namespace,
          '--ignore-not-found',
          '-o',
          'name',
        )) === ''
          ? true
          : undefined,
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(running()).toBe('');
    table.record('setsid background process outlives the sandbox', running() ? 'allowed' : 'blocked');
  });
});

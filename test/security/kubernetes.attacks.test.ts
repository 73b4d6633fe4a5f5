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
 * Where the traffic goes, all of it on this machine:
 * - Platform stand-ins (Redis, the API, worker metrics, the kube-apiserver) listen on free ports of the node's
 *   address on the pod network: the bridge gateway every pod routes through, which is also where a pod
 *   reaches any host service bound to all addresses. The real kube-apiserver listens on 127.0.0.1 only, which
 *   a pod cannot route to (its loopback is its own; a case below shows that too).
 * - An allowed "public" git host (443) and registry (80), and a port the policy does not allow, listen in a
 *   network namespace this test makes, on an address of TEST-NET-2 (198.51.100.0/24), behind a veth pair and
 *   a host route that exist only while the test runs. The chart's egress policy excludes every private,
 *   link-local, loopback and cluster range, so no address the machine already has could stand in for an
 *   allowed host; a documentation address is, to the policy, a public one, and here it is routed only into
 *   the test's namespace. A private-range stand-in (172.16/12) sits in the same namespace behind a /32 host
 *   route, added only after checking that nothing but the default route matches it.
 * - A control sandbox, in a namespace of the test's own without NetworkPolicies, reaches every stand-in: each
 *   block below is the policies' doing, not a missing route or listener.
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { globSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LABELS, MANAGED_BY, type Sandbox, type SandboxSpec } from '@ci-fixer/sandbox';
import { type KubernetesDriver } from '@ci-fixer/sandbox/kubernetes';
import { devCluster, realNode, realNodeDriver } from '../../packages/sandbox/test/kubernetes-cluster.ts';
import { waitFor } from '../support/processes.ts';
import { AttackTable } from './attack-table.ts';

const table = new AttackTable('kubernetes (real node)');
const SECRET = `worker-secret-${process.pid}`;
const PLATFORM = ['redis', 'api', 'metrics', 'kube-apiserver'] as const;
const DEV_CLUSTER = path.resolve(import.meta.dirname, '../../scripts/dev-cluster');

/** The dev cluster's own kubectl with the admin kubeconfig (setup and inspection only; sandboxes are the worker's). */
async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(DEV_CLUSTER, ['kubectl', ...args], { encoding: 'utf8' });
  return stdout;
}

interface PodJson {
  metadata: { name: string; uid: string };
  status: { podIP?: string };
}

/** Fails (never skips) unless kube-network-policies enforces NetworkPolicies on the real node, with why. */
async function requireEnforcement(): Promise<void> {
  await realNode();
  const state = path.dirname((await devCluster()).env.KUBECONFIG!);
  const read = (file: string) => {
    try {
      return readFileSync(path.join(state, file), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const unavailable = read('real-node/network-policies/unavailable');
  if (unavailable)
    throw new Error(`NetworkPolicies are not enforced on the dev cluster's real node: ${unavailable}`);
  // Running, and this cluster's: the process names the state dir (scripts/dev-cluster's is_running).
  const pid = read('run/kube-network-policies.pid');
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // Not running: reported below.
  }
  if (!pid || !cmdline.includes(state))
    throw new Error(
      `kube-network-policies is not running on the dev cluster's real node, so nothing enforces NetworkPolicies (see scripts/dev-cluster status and ${path.join(state, 'logs/kube-network-policies.log')}); run scripts/dev-cluster up`,
    );
}

/** A TCP stand-in that greets with its name and counts the connections it gets. */
async function standIn(name: string, host: string) {
  let count = 0;
  const server = net.createServer((socket) => {
    count++;
    socket.end(`${name}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return {
    name,
    target: `${host}:${(server.address() as net.AddressInfo).port}`,
    connections: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Greets like standIn, inside the namespace; prints `listening` once bound and `conn HOST:PORT` per connection. */
const NETNS_SERVER = `
const net = require('node:net');
const specs = JSON.parse(process.argv[1]);
let pending = specs.length;
for (const { host, port, name } of specs)
  net.createServer((socket) => { console.log('conn ' + host + ':' + port); socket.end(name + '\\n'); })
    .listen(port, host, () => { if (--pending === 0) console.log('listening'); });
`;

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

/**
 * A network namespace of the test's own, joined to the host by a veth pair: a /30 of 198.51.100.0/24 between
 * them, and one private address in the namespace behind a /32 host route. Stand-ins listen there on fixed
 * ports (443, 80: the ports the chart's egress policy allows), which are the namespace's own.
 */
class TestNetns {
  readonly name = `cif-np-${randomBytes(3).toString('hex')}`;
  private readonly hostIf = `cnp${randomBytes(3).toString('hex')}`;
  readonly publicIp: string;
  private readonly gatewayIp: string;
  readonly privateIp: string;
  private server: ChildProcess | undefined;
  private readonly counts = new Map<string, number>();

  constructor() {
    const base = 4 * randomInt(1, 63);
    this.gatewayIp = `198.51.100.${base + 1}`;
    this.publicIp = `198.51.100.${base + 2}`;
    this.privateIp = `172.31.${randomInt(0, 256)}.${randomInt(1, 255)}`;
  }

  async start(specs: { host: string; port: number; name: string }[]): Promise<void> {
    for (const address of [this.publicIp, this.privateIp]) {
      const routes = ip('-4', 'route', 'show', 'match', address).trim().split('\n');
      if (!routes.every((route) => route.startsWith('default ')))
        throw new Error(`${address} is already routed on this machine (${routes.join('; ')}): not using it`);
    }
    const peer = `${this.hostIf}n`;
    ip('netns', 'add', this.name);
    ip('link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', peer, 'netns', this.name);
    ip('addr', 'add', `${this.gatewayIp}/30`, 'dev', this.hostIf);
    ip('link', 'set', this.hostIf, 'up');
    ip('-n', this.name, 'link', 'set', 'lo', 'up');
    ip('-n', this.name, 'addr', 'add', `${this.publicIp}/30`, 'dev', peer);
    ip('-n', this.name, 'addr', 'add', `${this.privateIp}/32`, 'dev', peer);
    ip('-n', this.name, 'link', 'set', peer, 'up');
    ip('-n', this.name, 'route', 'add', 'default', 'via', this.gatewayIp);
    ip('route', 'add', `${this.privateIp}/32`, 'via', this.publicIp, 'dev', this.hostIf);
    const server = spawn(
      'ip',
      ['netns', 'exec', this.name, process.execPath, '-e', NETNS_SERVER, JSON.stringify(specs)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('exit', (code) => reject(new Error(`the stand-ins in ${this.name} exited (${code})`)));
      createInterface({ input: server.stdout! }).on('line', (line) => {
        if (line === 'listening') resolve();
        const conn = /^conn (.+)$/.exec(line);
        if (conn) this.counts.set(conn[1]!, (this.counts.get(conn[1]!) ?? 0) + 1);
      });
    });
  }

  connections(target: string): number {
    return this.counts.get(target) ?? 0;
  }

  stop(): void {
    this.server?.kill('SIGKILL');
    // Deleting the namespace deletes the veth pair, and with it the host's /30 and /32 routes.
    spawnSync('ip', ['netns', 'delete', this.name]);
    spawnSync('ip', ['link', 'delete', this.hostIf]);
  }
}

/**
 * What each HOST:PORT answered to a plain TCP client in the sandbox (busybox nc, 2 s connect timeout): its
 * first line, or '' when nothing came back (the SYN dropped, refused, or no route).
 */
async function reach(sandbox: Sandbox, targets: string[]): Promise<Record<string, string>> {
  const script = targets
    .map((target) => {
      const [host, port] = target.split(/:(?=\d+$)/);
      return `printf '%s=' '${target}'; timeout 8 nc -w 2 ${host} ${port} </dev/null 2>/dev/null | head -n 1 | tr -d '\\n'; echo`;
    })
    .join('\n');
  const result = await sandbox.exec(['sh', '-c', script], { timeoutMs: 20_000 + targets.length * 10_000 });
  const answers: Record<string, string> = {};
  for (const line of result.stdout.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) answers[line.slice(0, at)] = line.slice(at + 1);
  }
  expect(Object.keys(answers).sort(), result.stderr).toEqual([...targets].sort());
  return answers;
}

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
  let gitHost: string;
  let registry: string;
  let closedPort: string;
  let privateHost: string;
  let nodeIp: string;

  const create = (spec: Partial<SandboxSpec> = {}, on = driver) =>
    on.create({ labels, maxLifetimeSeconds: 600, ...spec });
  const sh = (sandbox: Sandbox, script: string, timeoutMs = 20_000) =>
    sandbox.exec(['sh', '-c', script], { timeoutMs });
  const pods = async (sandbox: Sandbox): Promise<PodJson[]> => {
    const { namespace } = await devCluster();
    const list = await kubectl('get', 'pods', '-n', namespace, '-l', `job-name=${sandbox.id}`, '-o', 'json');
    return (JSON.parse(list) as { items: PodJson[] }).items;
  };

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
    const node = await realNode();
    nodeIp = await kubectl(
      'get',
      'node',
      node,
      '-o',
      'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}',
    );
    if (!nodeIp) throw new Error(`node ${node} reports no InternalIP`);
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

    driver = await realNodeDriver();
    // Host names, as the worker lists them: on kubernetes they only switch the pod to network=egress.
    online = await create({ egress: ['git.example.test:443', 'registry.example.test:80'] });
    offline = await create();
    await kubectl('create', 'namespace', controlNamespace);
    await kubectl('create', 'serviceaccount', 'ci-fixer-sandbox', '-n', controlNamespace);
    const unconfined = await realNodeDriver({
      kubeConfig: cluster.admin,
      namespace: controlNamespace,
      requireNetworkPolicy: false,
    });
    control = await create({ egress: ['git.example.test:443'] }, unconfined);
  }, 180_000);

  afterAll(async () => {
    delete process.env.CI_FIXER_TEST_SECRET;
    await Promise.allSettled([online?.destroy(), offline?.destroy(), control?.destroy()]);
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
      const greeting = await new Promise<string>((resolve) => {
        const socket = net.connect({ host: `${address}%${bridge!.ifname}`, port: Number(port) });
        let data = '';
        socket.on('data', (chunk) => (data += String(chunk)));
        socket.on('close', () => resolve(data));
        socket.on('error', (error) => resolve(String(error)));
      });
      expect(greeting).toBe('redis\n');
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

  it('reaches the allowed git host and registry (public stand-ins)', async () => {
    const answers = await reach(online, [gitHost, registry]);
    expect(answers).toEqual({ [gitHost]: 'git host', [registry]: 'registry' });
    expect(netns.connections(gitHost)).toBe(1);
    table.record('reach the allowed git host', answers[gitHost] === 'git host' ? 'allowed' : 'blocked');
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
    const podIp = (await pods(offline))[0]?.status?.podIP;
    expect(podIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const target = `${podIp}:8080`;
    // The node's root processes are not filtered (kube-network-policies lets kubelet probes through): the
    // listener answers them, so the refusals below are the policies'.
    const fromNode = await waitFor('the listener in the sandbox', async () => {
      const line = await new Promise<string>((resolve) => {
        const socket = net.connect({ host: podIp!, port: 8080 });
        let data = '';
        socket.on('data', (chunk) => (data += String(chunk)));
        socket.on('close', () => resolve(data));
        socket.on('error', () => resolve(''));
        socket.setTimeout(3000, () => socket.destroy());
      });
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
      const [pod] = await pods(bombed);
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
    const [pod] = await pods(victim);
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

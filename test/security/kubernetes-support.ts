/**
 * What test/security/kubernetes.attacks.test.ts runs its attacks with on the dev cluster's real node: the
 * stand-ins (on the node's address, and in a network namespace the test makes), a plain TCP client inside
 * a sandbox, and the chart's egress proxy as a pod.
 *
 * Where the traffic goes, all of it on this machine:
 * - Platform stand-ins (Redis, the API, worker metrics, the kube-apiserver) listen on free ports of the node's
 *   address on the pod network: the bridge gateway every pod routes through, which is also where a pod
 *   reaches any host service bound to all addresses. The real kube-apiserver listens on 127.0.0.1 only, which
 *   a pod cannot route to (its loopback is its own; a case below shows that too).
 * - A "public" git host (443) on the sandbox's allow-list, a registry (80) left off it, and a port no policy
 *   allows, listen in a network namespace this test makes, on an address of TEST-NET-2 (198.51.100.0/24),
 *   behind a veth pair and a host route that exist only while the test runs. The proxy's egress policy (the
 *   sandboxes' own allows the proxy alone) excludes every private,
 *   link-local, loopback and cluster range, so no address the machine already has could stand in for an
 *   allowed host; a documentation address is, to the policy, a public one, and here it is routed only into
 *   the test's namespace. A private-range stand-in (172.16/12) sits in the same namespace behind a /32 host
 *   route, added only after checking that nothing but the default route matches it.
 * - The egress proxy pod, on the real node like the sandboxes, connects to those stand-ins for them.
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import type { Sandbox } from '@ci-fixer/sandbox';
import { devCluster, REAL_NODE, realNode } from '../../packages/sandbox/test/kubernetes-cluster.ts';
import { CHART_DIR, helm, parseManifests, REPO_ROOT, type Container, type Manifest } from '../deploy/helm.ts';

const DEV_CLUSTER = path.resolve(import.meta.dirname, '../../scripts/dev-cluster');

/** The dev cluster's own kubectl with the admin kubeconfig (setup and inspection only; sandboxes are the worker's). */
export async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(DEV_CLUSTER, ['kubectl', ...args], { encoding: 'utf8' });
  return stdout;
}

export interface PodJson {
  metadata: { name: string; uid: string };
  status: { podIP?: string };
}

/** The pods of a sandbox's Job in the dev cluster's sandbox namespace. */
export async function sandboxPods(sandbox: Sandbox): Promise<PodJson[]> {
  const { namespace } = await devCluster();
  const list = await kubectl('get', 'pods', '-n', namespace, '-l', `job-name=${sandbox.id}`, '-o', 'json');
  return (JSON.parse(list) as { items: PodJson[] }).items;
}

/** The real node's address on the pod network (its InternalIP: the bridge every pod routes through). */
export async function nodeAddress(): Promise<string> {
  const node = await realNode();
  const address = await kubectl(
    'get',
    'node',
    node,
    '-o',
    'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}',
  );
  if (!address) throw new Error(`node ${node} reports no InternalIP`);
  return address;
}

/** Fails (never skips) unless kube-network-policies enforces NetworkPolicies on the real node, with why. */
export async function requireEnforcement(): Promise<void> {
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

/** What a TCP server on this machine says first ('' when nothing, or the error), within 3 s. */
export function greeting(host: string, port: number): Promise<string> {
  return new Promise<string>((resolve) => {
    const socket = net.connect({ host, port });
    let data = '';
    socket.on('data', (chunk) => (data += String(chunk)));
    socket.on('close', () => resolve(data));
    socket.on('error', (error) => resolve(String(error)));
    socket.setTimeout(3000, () => socket.destroy());
  });
}

/** A TCP stand-in that greets with its name and counts the connections it gets. */
export async function standIn(name: string, host: string) {
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
export const NETNS_SERVER = `
const net = require('node:net');
const specs = JSON.parse(process.argv[1]);
let pending = specs.length;
for (const { host, port, name } of specs)
  net.createServer((socket) => { console.log('conn ' + host + ':' + port); socket.end(name + '\\n'); })
    .listen(port, host, () => { if (--pending === 0) console.log('listening'); });
`;

export const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

/**
 * A network namespace of the test's own, joined to the host by a veth pair: a /30 of 198.51.100.0/24 between
 * them, and one private address in the namespace behind a /32 host route. Stand-ins listen there on fixed
 * ports (443, 80: the ports the chart's egress policy allows), which are the namespace's own.
 */
export class TestNetns {
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
export async function reach(sandbox: Sandbox, targets: string[]): Promise<Record<string, string>> {
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

/** The dev cluster's release and sandbox namespaces (scripts/dev-cluster RELEASE_NS, SANDBOX_NS). */
const DEV_RELEASE_NS = 'ci-fixer';
const DEV_SANDBOX_NS = 'ci-fixer-sandboxes';
const POLICIES_FILE = path.join(REPO_ROOT, 'scripts/dev-cluster.d/sandbox-networkpolicies.yaml');

/** kubectl apply of objects given as JSON, through a file (the kubectl helper has no stdin). */
async function apply(objects: unknown[]): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cif-apply-'));
  try {
    const file = path.join(dir, 'objects.json');
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    await kubectl('apply', '-f', file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The chart's egress proxy on the real node: a pod with the chart's proxy labels and container (its args,
 * env and port; the key given as a value) under the chart's proxy NetworkPolicy, in the dev cluster's release
 * namespace, where the chart's sandbox policies let egress pods reach it. The code is this checkout's,
 * mounted read-only, run by the sandbox image's node: the worker image is not built from the checkout here.
 * Applies the sandbox policies file first, as `up` does, so that the policies are this checkout's. Returns
 * the pod's address and a function that removes it.
 */
export async function startEgressProxy(key: string): Promise<{ address: string; stop: () => Promise<void> }> {
  await kubectl('apply', '-n', DEV_SANDBOX_NS, '-f', POLICIES_FILE);
  const rendered = await helm([
    'template',
    DEV_RELEASE_NS,
    CHART_DIR,
    '--namespace',
    DEV_RELEASE_NS,
    '--set',
    `sandbox.namespace=${DEV_SANDBOX_NS}`,
    '--show-only',
    'templates/egress-proxy.yaml',
  ]);
  if (rendered.code !== 0) throw new Error(`helm template failed:\n${rendered.stderr}`);
  const manifests = parseManifests(rendered.stdout);
  const of = (kind: string) => manifests.find((m) => m.kind === kind) as Manifest & { spec: never };
  const deployment = of('Deployment').spec as {
    selector: { matchLabels: Record<string, string> };
    template: { spec: { containers: (Container & { args: string[] })[] } };
  };
  const [container] = deployment.template.spec.containers;
  const name = `cif-attacks-egress-proxy-${randomBytes(3).toString('hex')}`;
  const port = container!.ports![0]!.containerPort;
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: DEV_RELEASE_NS, labels: deployment.selector.matchLabels },
    spec: {
      automountServiceAccountToken: false,
      nodeSelector: { ...REAL_NODE.label },
      tolerations: [{ ...REAL_NODE.toleration }],
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 },
      containers: [
        {
          name: 'egress-proxy',
          image: 'ci-fixer/sandbox:dev-cluster',
          imagePullPolicy: 'IfNotPresent',
          command: container!.args,
          workingDir: REPO_ROOT,
          env: container!.env!.map((entry) => (entry.valueFrom ? { name: entry.name, value: key } : entry)),
          ports: [{ containerPort: port }],
          readinessProbe: { tcpSocket: { port }, periodSeconds: 1 },
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          volumeMounts: [{ name: 'checkout', mountPath: REPO_ROOT, readOnly: true }],
        },
      ],
      volumes: [{ name: 'checkout', hostPath: { path: REPO_ROOT, type: 'Directory' } }],
    },
  };
  await apply([of('NetworkPolicy'), pod]);
  const stop = async () => {
    await kubectl('delete', 'pod', name, '-n', DEV_RELEASE_NS, '--ignore-not-found', '--wait=false');
  };
  try {
    await kubectl('wait', '--for=condition=Ready', `pod/${name}`, '-n', DEV_RELEASE_NS, '--timeout=120s');
  } catch (error) {
    const logs = await kubectl('logs', name, '-n', DEV_RELEASE_NS).catch(() => '');
    await stop();
    throw new Error(`the egress proxy pod did not become ready: ${String(error)}\n${logs}`, { cause: error });
  }
  const ipOf = await kubectl('get', 'pod', name, '-n', DEV_RELEASE_NS, '-o', 'jsonpath={.status.podIP}');
  return { address: `${ipOf}:${port}`, stop };
}

/**
 * A CONNECT to `target` through the proxy a sandbox's HTTPS_PROXY names, with its own credential or the
 * one given, from inside the sandbox (busybox nc): the status line and what came after it, '' for both when
 * the proxy did not answer.
 */
export async function viaProxy(
  sandbox: Sandbox,
  target: string,
  options: { credentials?: string; proxy?: string } = {},
): Promise<{ status: string; body: string }> {
  const script = `
    cred=\${HTTPS_PROXY#http://}; cred=\${cred%@*}; proxy=\${PROXY:-\${HTTPS_PROXY##*@}}
    auth=$(printf %s "\${CREDENTIALS:-$cred}" | base64 | tr -d '\\n')
    { printf 'CONNECT %s HTTP/1.1\\r\\nHost: %s\\r\\nProxy-Authorization: Basic %s\\r\\n\\r\\n' "$TARGET" "$TARGET" "$auth"; sleep 3; } |
      timeout 10 nc -w 3 "\${proxy%:*}" "\${proxy##*:}" | tr -d '\\r'
    true`;
  const result = await sandbox.exec(['sh', '-c', script], {
    timeoutMs: 30_000,
    env: {
      TARGET: target,
      ...(options.credentials ? { CREDENTIALS: options.credentials } : {}),
      ...(options.proxy ? { PROXY: options.proxy } : {}),
    },
  });
  const [status = '', ...rest] = result.stdout.split('\n');
  return { status, body: rest.join('\n').replace(/^\n/, '') };
}

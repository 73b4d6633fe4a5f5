/**
 * The whole product on the dev cluster's real node (kubelet + containerd + runc, docs/dev-cluster.md): the
 * chart is `helm install`ed with the API, worker, Redis and `helm test` pods and the sandbox Jobs placed on
 * that node, from the images scripts/build-app-images and scripts/build-images made (imported into the node's
 * containerd). The pods become Ready through their own probes, a fix job submitted to the chart's API is
 * cloned, installed, reproduced and fixed in a sandbox pod on the node and ends `fixed` with a patch that
 * applies, `helm test` passes, and an upgrade and a rollback keep the API answering /readyz.
 *
 * What the dev cluster lacks, and the stand-ins this test runs for it (all on this machine: the node's bridge
 * address and pod IPs only):
 * - No kube-proxy and no cluster DNS, so no Service name or ClusterIP works from a pod. The test serves each
 *   Service the apps use the way kube-proxy would: a relay on the node's address that picks a ready endpoint
 *   from the Service's EndpointSlices for every connection. A small relay pod gives those relays the Services'
 *   own ports (6379, 80), and the chart's `hostAliases` point the Service names at it. The worker reaches the
 *   apiserver (which listens on 127.0.0.1 only) through a relay too, as `kubernetes.default.svc` (a name its
 *   certificate carries) via worker.extraEnv KUBERNETES_SERVICE_HOST/PORT. Nothing in a pod ever sends to
 *   the service network (10.96.0.0/12) or asks a DNS server: that traffic would leave this machine.
 * - No registry: the chart's images are imported into containerd (scripts/dev-cluster load-images), and the
 *   bundled Redis runs this machine's redis-server in an image built here (test/fixtures/redis-image).
 * - No internet: the sandbox clones from a git smart-HTTP server (`git http-backend`, TLS with a throwaway
 *   certificate) and installs prettier from an npm registry stand-in that serves this workspace's own copy.
 * - No storage provisioner: a hostPath PersistentVolume, made and deleted here, for Redis' claim.
 * - The sandbox reaches its git and npm stand-ins through the chart's egress proxy (its Service relayed like
 *   the others), on the node's address: the job's git host and SANDBOX_EGRESS_ALLOW name it by address.
 * - The egress proxy connects to the stand-ins on the node's address, which the chart's
 *   NetworkPolicies (enforced on the real node by kube-network-policies) rightly block. So this release
 *   installs without them (sandbox.networkPolicy.enabled=false, K8S_REQUIRE_NETWORK_POLICY=false); what
 *   they block and allow is proven by test/security/kubernetes.attacks.test.ts.
 *
 * Fails, never skips, when the cluster or its real node is not up: CI starts both (`scripts/dev-cluster up`).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { devCluster, realNode, REAL_NODE } from '../../packages/sandbox/test/kubernetes-cluster.ts';
import { FIXTURES, fixtureGit } from '../support/fixture-repos.ts';
import { waitFor } from '../support/processes.ts';
import { CHART_DIR, REPO_ROOT } from './helm.ts';
import { connectCluster, type Cluster } from './kube.ts';

const run = promisify(execFile);

const NS = 'ci-fixer-chart-real-node';
const SANDBOX_NS = `${NS}-sandboxes`; // the chart's default: <release namespace>-sandboxes
const RELEASE = 'crn';
const FULLNAME = `${RELEASE}-ci-fixer`;
const PV = `${NS}-redis`;
const RELAY_POD = `${RELEASE}-service-relay`;
const APP_VERSION = (
  parse(readFileSync(path.join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { appVersion: string }
).appVersion;
const PLACEMENT = { nodeSelector: { ...REAL_NODE.label }, tolerations: [{ ...REAL_NODE.toleration }] };
const PRETTIER_DIR = realpathSync(path.join(REPO_ROOT, 'node_modules', 'prettier'));
const PRETTIER = JSON.parse(readFileSync(path.join(PRETTIER_DIR, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
};

type Admin = Awaited<ReturnType<typeof devCluster>>['admin'];

let cluster: Cluster;
let admin: Admin;
let nodeName: string;
let nodeIp: string;
let work: string;
const closers: (() => Promise<void>)[] = [];

// --- the apiserver, as the admin ---------------------------------------------------------------------------

/** One request to the apiserver with the admin kubeconfig's credentials; the body as text. */
async function apiserver(pathname: string): Promise<{ status: number; body: string }> {
  const options: https.RequestOptions = {};
  await admin.applyToHTTPSOptions(options);
  const url = new URL(pathname, admin.getCurrentCluster()!.server);
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ...options, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${pathname}: no answer in 10 s`)));
    req.on('error', reject);
  });
}

async function apiserverJson<T>(pathname: string): Promise<T> {
  const { status, body } = await apiserver(pathname);
  if (status !== 200) throw new Error(`GET ${pathname}: HTTP ${status}: ${body.slice(0, 500)}`);
  return JSON.parse(body) as T;
}

interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string> };
  spec: { nodeName?: string };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; restartCount: number; image: string }[];
  };
}

async function pods(namespace: string, selector?: string): Promise<Pod[]> {
  const query = selector ? `?labelSelector=${encodeURIComponent(selector)}` : '';
  return (await apiserverJson<{ items: Pod[] }>(`/api/v1/namespaces/${namespace}/pods${query}`)).items;
}

const ready = (pod: Pod) =>
  pod.status.phase === 'Running' &&
  (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

function component(name: string): string {
  return `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=${name}`;
}

async function kubectl(args: string[], input?: string): Promise<string> {
  return cluster.kubectl(args, input);
}

async function deleteQuietly(args: string[]): Promise<void> {
  await kubectl(['delete', '--ignore-not-found', '--wait=true', '--timeout=120s', ...args]).catch(() => {});
}

async function helm(args: string[]): Promise<string> {
  return cluster.helm(args);
}

// --- stand-ins on the node's address ------------------------------------------------------------------------

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, nodeIp, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Closes a server and every connection it still has, so that afterAll never waits on a pod's socket. */
function closing(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
}

/**
 * A TCP relay on the node's address to whatever `target` names for each new connection: the part of
 * kube-proxy this cluster lacks. Returns its port.
 */
async function tcpRelay(target: () => Promise<{ host: string; port: number } | undefined>): Promise<number> {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    target().then(
      (to) => {
        if (!to || client.destroyed) return client.destroy();
        const upstream = net.connect(to.port, to.host);
        track(upstream);
        upstream.on('close', () => client.destroy());
        client.on('close', () => upstream.destroy());
        client.pipe(upstream).pipe(client);
      },
      () => client.destroy(),
    );
  });
  const port = await listen(server);
  closers.push(closing(server, sockets));
  return port;
}

interface EndpointSlice {
  ports?: { name?: string; port?: number }[];
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
}

/** A relay to the ready endpoints of Service `service`'s port `portName`, taken in turn. */
async function serviceRelay(service: string, portName: string): Promise<number> {
  let turn = 0;
  return tcpRelay(async () => {
    const slices = await apiserverJson<{ items: EndpointSlice[] }>(
      `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`,
    );
    const targets = slices.items.flatMap((slice) => {
      const port = slice.ports?.find((p) => p.name === portName)?.port;
      if (!port) return [];
      return (slice.endpoints ?? [])
        .filter((endpoint) => endpoint.conditions?.ready !== false)
        .map((endpoint) => ({ host: endpoint.addresses[0]!, port }));
    });
    return targets.length ? targets[turn++ % targets.length] : undefined;
  });
}

interface Hit {
  from: string;
  method: string;
  url: string;
}

/**
 * git's smart HTTP protocol over TLS: `git http-backend` as CGI, serving the bare repositories under `root`.
 * The certificate is made for this run; see the worker's GIT_SSL_NO_VERIFY below.
 */
async function gitServer(root: string, hits: Hit[]): Promise<number> {
  const key = path.join(work, 'git-tls.key');
  const cert = path.join(work, 'git-tls.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=ci-fixer git stand-in',
      '-addext',
      `subjectAltName=IP:${nodeIp}`,
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const sockets = new Set<net.Socket>();
  const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://stand-in');
    hits.push({ from: req.socket.remoteAddress ?? '', method: req.method ?? '', url: url.pathname });
    const header = (name: string) => {
      const value = req.headers[name];
      return typeof value === 'string' ? value : undefined;
    };
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
    };
    for (const [name, cgi] of [
      ['content-type', 'CONTENT_TYPE'],
      ['content-length', 'CONTENT_LENGTH'],
      ['content-encoding', 'HTTP_CONTENT_ENCODING'],
      ['git-protocol', 'GIT_PROTOCOL'],
    ] as const) {
      const value = header(name);
      if (value !== undefined) env[cgi] = value;
    }
    const cgi = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'ignore'] });
    req.pipe(cgi.stdin);
    cgi.stdin.on('error', () => {});
    let head = Buffer.alloc(0);
    let sent = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (sent) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const text = head.toString('latin1');
      const end = /\r?\n\r?\n/.exec(text);
      if (!end) return;
      let status = 200;
      for (const line of text.slice(0, end.index).split(/\r?\n/)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else res.setHeader(name, value);
      }
      res.writeHead(status);
      sent = true;
      res.write(head.subarray(end.index + end[0].length));
    });
    cgi.on('close', () => {
      if (!sent) res.writeHead(502);
      res.end();
    });
  });
  server.on('connection', (duplex) => {
    const socket = duplex as net.Socket; // the TCP connection under the TLS session
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  closers.push(closing(server, sockets));
  return port;
}

/**
 * An npm registry that serves one package, this workspace's own copy of prettier (the version the fixture's
 * lockfile pins), packed here: what `npm ci` in the sandbox downloads instead of the public registry.
 */
async function npmRegistry(hits: Hit[]): Promise<{ port: number; tarballUrl: string; integrity: string }> {
  const tarball = path.join(work, `${PRETTIER.name}-${PRETTIER.version}.tgz`);
  // npm's tarball layout: everything under package/.
  execFileSync('tar', [
    '-czf',
    tarball,
    '-C',
    path.dirname(PRETTIER_DIR),
    '--transform',
    `s,^${path.basename(PRETTIER_DIR)},package,`,
    path.basename(PRETTIER_DIR),
  ]);
  const bytes = readFileSync(tarball);
  const integrity = `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
  const file = `/${PRETTIER.name}/-/${path.basename(tarball)}`;
  const sockets = new Set<net.Socket>();
  let base = '';
  const server = http.createServer((req, res) => {
    hits.push({ from: req.socket.remoteAddress ?? '', method: req.method ?? '', url: req.url ?? '' });
    if (req.url === file) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      return void res.end(bytes);
    }
    if (req.url === `/${PRETTIER.name}`) {
      const version = {
        name: PRETTIER.name,
        version: PRETTIER.version,
        bin: PRETTIER.bin,
        dist: { tarball: `${base}${file}`, integrity },
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(
        JSON.stringify({
          name: PRETTIER.name,
          'dist-tags': { latest: PRETTIER.version },
          versions: { [PRETTIER.version]: version },
        }),
      );
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":"not found"}');
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  closers.push(closing(server, sockets));
  base = `http://${nodeIp}:${port}`;
  return { port, tarballUrl: `${base}${file}`, integrity };
}

/**
 * The prettier fixture of the end-to-end tests (test/support/fixture-repos.ts) with prettier as its only
 * dependency, locked to the registry stand-in, as a bare repository the git stand-in serves.
 */
function fixtureRepo(
  gitRoot: string,
  registry: { port: number; tarballUrl: string; integrity: string },
): { path: string; sha: string } {
  const dir = path.join(work, 'fixture');
  const name = 'ci-fixer-real-node-fixture';
  const files: Record<string, string> = {
    ...FIXTURES.prettier.files,
    '.gitignore': 'node_modules/\n',
    '.prettierrc.json': '{ "singleQuote": true }\n',
    // npm in the sandbox asks the stand-in, never the public registry.
    '.npmrc': `registry=http://${nodeIp}:${registry.port}/\n`,
    'package.json': `${JSON.stringify(
      {
        name,
        private: true,
        type: 'module',
        scripts: { 'format:check': 'prettier --check src' },
        devDependencies: { [PRETTIER.name]: PRETTIER.version },
      },
      null,
      2,
    )}\n`,
    'package-lock.json': `${JSON.stringify(
      {
        name,
        lockfileVersion: 3,
        requires: true,
        packages: {
          '': { name, devDependencies: { [PRETTIER.name]: PRETTIER.version } },
          [`node_modules/${PRETTIER.name}`]: {
            version: PRETTIER.version,
            resolved: registry.tarballUrl,
            integrity: registry.integrity,
            dev: true,
            bin: PRETTIER.bin,
          },
        },
      },
      null,
      2,
    )}\n`,
  };
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), content);
  }
  const git = fixtureGit;
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'fixture: prettier, on the real node');
  git(work, 'clone', '-q', '--bare', dir, path.join(gitRoot, 'fixture.git'));
  return { path: dir, sha: git(dir, 'rev-parse', 'HEAD') };
}

// --- images -------------------------------------------------------------------------------------------------

function podman(args: string[]): string {
  const conf = execFileSync(path.join(REPO_ROOT, 'scripts', 'podman-service'), ['conf'], {
    encoding: 'utf8',
  });
  return execFileSync('podman', args, {
    encoding: 'utf8',
    env: { ...process.env, CONTAINERS_CONF: conf.trim() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The Redis image (test/fixtures/redis-image), built from this machine's redis-server once per version. */
function redisImage(): { repository: string; tag: string; ref: string } {
  const version = /v=([0-9.]+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1];
  if (!version) throw new Error('redis-server --version printed no version (apt-get install redis-server)');
  const repository = 'ci-fixer/test-redis';
  const ref = `localhost/${repository}:${version}`;
  try {
    podman(['image', 'exists', ref]);
    return { repository, tag: version, ref };
  } catch {
    // Not built yet: build it below.
  }
  const context = path.join(work, 'redis-image');
  mkdirSync(path.join(context, 'bin'), { recursive: true });
  mkdirSync(path.join(context, 'lib'), { recursive: true });
  copyFileSync(
    path.join(REPO_ROOT, 'test', 'fixtures', 'redis-image', 'Containerfile'),
    path.join(context, 'Containerfile'),
  );
  const binaries = ['redis-server', 'redis-cli'].map((name) =>
    execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim(),
  );
  for (const binary of binaries)
    copyFileSync(realpathSync(binary), path.join(context, 'bin', path.basename(binary)));
  // The base image has its own glibc; every other library comes from this machine (same Debian release).
  const libraries = new Set(
    binaries.flatMap((binary) =>
      [...execFileSync('ldd', [binary], { encoding: 'utf8' }).matchAll(/=> (\/\S+)/g)].map((m) => m[1]!),
    ),
  );
  for (const library of libraries) {
    if (/\/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so/.test(library)) continue;
    copyFileSync(realpathSync(library), path.join(context, 'lib', path.basename(library)));
  }
  podman(['build', '-q', '-t', ref, context]);
  return { repository, tag: version, ref };
}

// --- the test's own objects ----------------------------------------------------------------------------------

async function cleanUp(): Promise<void> {
  await helm(['uninstall', RELEASE, '-n', NS, '--wait', '--timeout', '180s']).catch(() => {});
  await deleteQuietly(['namespace', NS, SANDBOX_NS]);
  await deleteQuietly(['pv', PV]);
  // Deleting a namespace can outlast kubectl's wait on a loaded machine; a new run must not start in it.
  await waitFor(
    `namespaces ${NS} and ${SANDBOX_NS} and PersistentVolume ${PV} to be gone`,
    async () => {
      const gone = await Promise.all([NS, SANDBOX_NS].map(namespaceGone));
      // The PV outlives its namespace until its claim is gone; a new run cannot re-create it before.
      const pvGone = await persistentVolumeGone();
      return gone.every(Boolean) && pvGone ? true : undefined;
    },
    { timeoutMs: 300_000, intervalMs: 2000 },
  );
}

/**
 * Whether this test's PersistentVolume is gone. Deleted, it waits for the PV controller to release it from
 * its claim; on this cluster that has not come within ten minutes of the claim's namespace being gone.
 * Once nothing can use it (its claim's namespace is gone), this lifts the protection finalizer itself.
 */
async function persistentVolumeGone(): Promise<boolean> {
  const { status, body } = await apiserver(`/api/v1/persistentvolumes/${PV}`);
  if (status === 404) return true;
  const pv = JSON.parse(body) as {
    metadata: { deletionTimestamp?: string };
    spec: { claimRef?: { namespace?: string } };
  };
  const claimNamespace = pv.spec.claimRef?.namespace;
  const claimGone =
    !claimNamespace || (await apiserver(`/api/v1/namespaces/${claimNamespace}`)).status === 404;
  if (pv.metadata.deletionTimestamp && claimGone) {
    await kubectl(['patch', 'pv', PV, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']).catch(
      () => {},
    );
  }
  return false;
}

/**
 * Whether namespace `name` (one of this test's) is gone. The namespace controller retries a namespace whose
 * pods are slow to go with an exponential backoff, and on a loaded machine it has left an emptied namespace
 * Terminating for over ten minutes. Once the API server reports nothing left in it, this does the
 * controller's last step itself: it clears the namespace's `kubernetes` finalizer.
 */
async function namespaceGone(name: string): Promise<boolean> {
  const { status, body } = await apiserver(`/api/v1/namespaces/${name}`);
  if (status === 404) return true;
  const namespace = JSON.parse(body) as {
    status?: { phase?: string; conditions?: { type: string; status: string }[] };
  };
  const condition = (type: string) => namespace.status?.conditions?.find((c) => c.type === type)?.status;
  if (
    namespace.status?.phase === 'Terminating' &&
    condition('NamespaceContentRemaining') === 'False' &&
    condition('NamespaceFinalizersRemaining') === 'False'
  ) {
    const finalized = { ...JSON.parse(body), spec: { finalizers: [] } };
    await kubectl(
      ['replace', '--raw', `/api/v1/namespaces/${name}/finalize`, '-f', '-'],
      JSON.stringify(finalized),
    ).catch(() => {});
  }
  return false;
}

/** Worker and API log tails, for a failure message. */
async function appLogs(): Promise<string> {
  const tails = await Promise.all(
    ['worker', 'api', 'egress-proxy'].map((name) =>
      kubectl(['logs', '-n', NS, '-l', component(name), '--tail=40', '--all-containers', '--prefix']).catch(
        (error: Error) => `(no ${name} logs: ${error.message})`,
      ),
    ),
  );
  return tails.join('\n');
}

async function apiToken(): Promise<string> {
  const encoded = await kubectl([
    'get',
    'secret',
    FULLNAME,
    '-n',
    NS,
    '-o',
    'jsonpath={.data.CI_FIXER_API_TOKEN}',
  ]);
  return Buffer.from(encoded, 'base64').toString('utf8');
}

async function configMap(): Promise<Record<string, string>> {
  return JSON.parse(
    await kubectl(['get', 'configmap', FULLNAME, '-n', NS, '-o', 'jsonpath={.data}']),
  ) as Record<string, string>;
}

/** The API's readiness through the apiserver's service proxy: the Service's endpoints, as the apiserver picks. */
async function readyzThroughService(): Promise<number> {
  return (await apiserver(`/api/v1/namespaces/${NS}/services/${FULLNAME}-api:http/proxy/readyz`)).status;
}

/** The kubelet's own view of the release's pods' memory (working set), for the record. */
async function podMemoryMiB(): Promise<Map<string, number>> {
  const summary = await apiserverJson<{
    pods: { podRef: { name: string; namespace: string }; memory?: { workingSetBytes?: number } }[];
  }>(`/api/v1/nodes/${nodeName}/proxy/stats/summary`);
  return new Map(
    summary.pods
      .filter((pod) => pod.podRef.namespace === NS || pod.podRef.namespace === SANDBOX_NS)
      .map((pod) => [pod.podRef.name, Math.round((pod.memory?.workingSetBytes ?? 0) / 1_048_576)]),
  );
}

/**
 * A pod's peak memory so far (cgroup v1 `memory.max_usage_in_bytes` of its pod cgroup under the real node's
 * kubelet parent), or undefined once the pod is gone. The summary above misses pods that live only seconds.
 */
function podPeakMiB(uid: string): number | undefined {
  const root = '/sys/fs/cgroup/memory';
  let parents: string[];
  try {
    parents = readdirSync(root);
  } catch {
    return undefined;
  }
  for (const parent of parents) {
    for (const qos of ['', 'burstable/', 'besteffort/']) {
      try {
        const file = path.join(root, parent, 'kubepods', `${qos}pod${uid}`, 'memory.max_usage_in_bytes');
        return Math.round(Number(readFileSync(file, 'utf8')) / 1_048_576);
      } catch {
        // Not under this parent or QoS class.
      }
    }
  }
  return undefined;
}

async function podMemory(): Promise<string> {
  const memory = await podMemoryMiB();
  return [...memory].map(([name, mib]) => `${name} ${mib} MiB`).join(', ');
}

let valuesFile: string;
let apiBase: string;
let repo: { path: string; sha: string };
let gitUrl: string;
const gitHits: Hit[] = [];
const npmHits: Hit[] = [];
const started = Date.now();

beforeAll(async () => {
  cluster = await connectCluster();
  admin = (await devCluster()).admin;
  nodeName = await realNode();
  const node = await apiserverJson<{ status: { addresses: { type: string; address: string }[] } }>(
    `/api/v1/nodes/${nodeName}`,
  );
  nodeIp = node.status.addresses.find((address) => address.type === 'InternalIP')!.address;
  work = mkdtempSync(path.join(os.tmpdir(), 'cif-chart-real-node-'));
  await cleanUp(); // what an interrupted earlier run of this test left (its own names only)

  // Images: the chart's API and worker and the sandbox (as built by scripts/build-app-images / build-images),
  // and the Redis image; imported into the node's containerd (skipped when already there).
  const redis = redisImage();
  const images = [
    `localhost/ci-fixer/api:${APP_VERSION}`,
    `localhost/ci-fixer/worker:${APP_VERSION}`,
    'localhost/ci-fixer/sandbox:latest',
    redis.ref,
  ];
  await run(path.join(REPO_ROOT, 'scripts', 'dev-cluster'), ['load-images', ...images], { timeout: 600_000 });

  // Stand-ins on the node's address.
  const apiserverUrl = new URL(admin.getCurrentCluster()!.server);
  const apiserverRelay = await tcpRelay(async () => ({
    host: apiserverUrl.hostname,
    port: Number(apiserverUrl.port || 443),
  }));
  const redisRelay = await serviceRelay(`${FULLNAME}-redis`, 'redis');
  const apiRelay = await serviceRelay(`${FULLNAME}-api`, 'http');
  const proxyRelay = await serviceRelay(`${FULLNAME}-egress-proxy`, 'proxy');
  apiBase = `http://${nodeIp}:${apiRelay}`;
  const gitRoot = path.join(work, 'git');
  mkdirSync(gitRoot);
  const gitPort = await gitServer(gitRoot, gitHits);
  const registry = await npmRegistry(npmHits);
  repo = fixtureRepo(gitRoot, registry);
  gitUrl = `https://${nodeIp}:${gitPort}/fixture.git`;

  await kubectl(['create', 'namespace', NS]);
  // Redis' claim needs a volume (no provisioner here); Redis runs as uid 999.
  const redisData = path.join(work, 'redis-data');
  mkdirSync(redisData);
  chmodSync(redisData, 0o777);
  const relayScript = [
    "const net = require('node:net');",
    'const [host, ...maps] = process.argv.slice(1);',
    'for (const map of maps) {',
    "  const [listen, port] = map.split('=').map(Number);",
    '  net.createServer((client) => {',
    '    const upstream = net.connect(port, host);',
    "    for (const [a, b] of [[client, upstream], [upstream, client]]) { a.on('error', () => b.destroy()); a.on('close', () => b.destroy()); }",
    '    client.pipe(upstream).pipe(client);',
    "  }).listen(listen, '0.0.0.0');",
    '}',
  ].join('\n');
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: { name: PV },
          spec: {
            capacity: { storage: '1Gi' },
            accessModes: ['ReadWriteOnce'],
            storageClassName: '',
            hostPath: { path: redisData, type: 'Directory' },
            claimRef: { namespace: NS, name: `data-${FULLNAME}-redis-0` },
          },
        },
        {
          // The Services' ports for the relays on the node (which cannot listen on 80 or 6379 of a shared
          // machine): the chart's pods reach the Service names here through hostAliases.
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: RELAY_POD, namespace: NS },
          spec: {
            ...PLACEMENT,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'relay',
                image: `ci-fixer/api:${APP_VERSION}`,
                imagePullPolicy: 'IfNotPresent',
                command: [
                  'node',
                  '-e',
                  relayScript,
                  nodeIp,
                  `6379=${redisRelay}`,
                  `80=${apiRelay}`,
                  `3128=${proxyRelay}`,
                ],
                // Root only to bind port 80 (containerd 1.6 keeps unprivileged ports at 1024); nothing else.
                securityContext: {
                  runAsUser: 0,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
                },
                readinessProbe: { tcpSocket: { port: 6379 }, periodSeconds: 1 },
                resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '96Mi' } },
              },
            ],
          },
        },
      ],
    }),
  );
  const relayPod = await waitFor(
    'the relay pod to be Ready on the real node',
    async () => (await pods(NS)).find((pod) => pod.metadata.name === RELAY_POD && ready(pod)),
    { timeoutMs: 120_000, intervalMs: 500 },
  );

  const values = {
    hostAliases: [
      { ip: nodeIp, hostnames: ['kubernetes.default.svc'] },
      {
        ip: relayPod.status.podIP!,
        // The worker resolves K8S_EGRESS_PROXY (<fullname>-egress-proxy.<namespace>.svc) and hands
        // sandboxes the relay pod's address.
        hostnames: [`${FULLNAME}-redis`, `${FULLNAME}-api`, `${FULLNAME}-egress-proxy.${NS}.svc`],
      },
    ],
    config: {
      LOG_LEVEL: 'info',
      WORKER_CONCURRENCY: 1,
      // Bounded, so that a rollout or uninstall never waits half an hour for a stuck fix.
      FIX_TIMEOUT_SECONDS: 600,
      WORKER_SHUTDOWN_GRACE_SECONDS: 600,
      // A platform failure shows at once instead of after retries with backoff.
      JOB_ATTEMPTS: 1,
      CI_FIXER_REPO_HOSTS: `${nodeIp}:${gitPort}`,
      SANDBOX_IMAGE: 'ci-fixer/sandbox:dev-cluster',
      K8S_NODE_SELECTOR: Object.entries(REAL_NODE.label)
        .map(([key, value]) => `${key}=${value}`)
        .join(','),
      K8S_TOLERATIONS: JSON.stringify([REAL_NODE.toleration]),
      // The node has this machine's 2 cores and runs other tests' sandboxes too.
      SANDBOX_CPUS: '0.5', // a string in the values schema (the code reads a decimal)
      SANDBOX_MEMORY_MB: 1024,
      K8S_EPHEMERAL_STORAGE_MB: 2048,
      // The git stand-in's certificate is made for this run, and the sandbox image trusts public CAs only
      // (the kubernetes driver mounts no host files): git in the sandbox skips verification of this host.
      SANDBOX_ENV_PASSTHROUGH: 'GIT_SSL_NO_VERIFY',
      // The sandbox's npm goes through the egress proxy, which refuses the node's (private) address unless an
      // address entry names it; the git host is the job's own, by address too.
      SANDBOX_EGRESS_ALLOW: `${nodeIp}:${registry.port}`,
      // The stand-ins live on the node's address, which the sandbox policies block (see the header).
      K8S_REQUIRE_NETWORK_POLICY: false,
    },
    sandbox: { networkPolicy: { enabled: false } },
    api: PLACEMENT,
    egressProxy: PLACEMENT,
    worker: {
      ...PLACEMENT,
      extraEnv: [
        // The in-cluster config's apiserver: the relay on the node, under a name the apiserver's certificate
        // carries (the kubelet's KUBERNETES_SERVICE_HOST is a ClusterIP nothing routes here).
        { name: 'KUBERNETES_SERVICE_HOST', value: 'kubernetes.default.svc' },
        { name: 'KUBERNETES_SERVICE_PORT', value: String(apiserverRelay) },
        { name: 'GIT_SSL_NO_VERIFY', value: 'true' },
      ],
    },
    redis: { ...PLACEMENT, image: { repository: redis.repository, tag: redis.tag } },
    tests: PLACEMENT,
  };
  valuesFile = path.join(work, 'values.json');
  writeFileSync(valuesFile, JSON.stringify(values, null, 2));
  console.log(`set-up (images, stand-ins, relay pod): ${((Date.now() - started) / 1000).toFixed(0)} s`);
}, 900_000);

afterAll(async () => {
  const t0 = Date.now();
  if (cluster) await cleanUp();
  console.log(`clean-up: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  await Promise.all(closers.map((close) => close()));
  if (work) rmSync(work, { recursive: true, force: true });
  console.log(`chart on the real node: ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
}, 600_000);

interface JobView {
  id: string;
  status: string;
  patch: string | null;
  strategy: string | null;
  baseSha: string | null;
  error?: string | null;
  steps: { stage: string; command: string; exitCode: number }[];
}

async function apiRequest(
  method: string,
  pathname: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${apiBase}${pathname}`, {
    method,
    headers: {
      authorization: `Bearer ${await apiToken()}`,
      'content-type': 'application/json',
      connection: 'close',
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, json: await res.json() };
}

/** The one API pod once a rollout is over (the old pod, in its preStop delay, has gone). */
async function onlyApiPod(): Promise<Pod> {
  return waitFor(
    'a single Ready API pod',
    async () => {
      const all = await pods(NS, component('api'));
      return all.length === 1 && ready(all[0]!) ? all[0] : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

describe('the chart on the real node', () => {
  let apiPodUid: string;
  let token: string;
  let jobId: string;
  let sandboxSeen = false;

  test('install: API, worker and Redis run on the real node, Ready through their own probes', async () => {
    const t0 = Date.now();
    await helm([
      'install',
      RELEASE,
      CHART_DIR,
      '-n',
      NS,
      '-f',
      valuesFile,
      '--wait',
      '--timeout',
      '300s',
    ]).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await appLogs()}`);
    });
    console.log(`helm install --wait: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    for (const name of ['api', 'worker', 'redis', 'egress-proxy']) {
      const [pod, ...more] = await pods(NS, component(name));
      expect(more, `one ${name} pod`).toEqual([]);
      expect(pod!.spec.nodeName, `${name} on the real node`).toBe(nodeName);
      expect(ready(pod!), `${name} Running and Ready`).toBe(true);
      if (name === 'api') apiPodUid = pod!.metadata.uid;
    }
    expect(await readyzThroughService()).toBe(200);
    // The worker's liveness command, run in its container: passes once its heartbeat reached Redis through the
    // Service (the worker writes it after its Kubernetes preflight).
    const [worker] = await pods(NS, component('worker'));
    const exec = [
      'exec',
      '-n',
      NS,
      worker!.metadata.name,
      '--',
      'node',
      '/app/scripts/worker-healthcheck.ts',
    ];
    await waitFor('the worker health check to pass in its container', () => kubectl(exec).then(() => true), {
      timeoutMs: 90_000,
      intervalMs: 2000,
    });
    token = await apiToken();
    expect(token).toMatch(/^[A-Za-z0-9]{48}$/);
  }, 420_000);

  test('a fix job runs in a sandbox Job on the real node and ends fixed with a patch that applies', async () => {
    const submitted = await apiRequest('POST', '/v1/fix-jobs', {
      repo: { url: gitUrl, sha: repo.sha },
      command: FIXTURES.prettier.command,
    });
    expect(submitted.status, JSON.stringify(submitted.json)).toBe(202);
    jobId = (submitted.json as { id: string }).id;

    // Where its sandbox pods ran, watched while the job runs (the worker deletes them when it is done).
    const sandboxNodes = new Map<string, string>();
    let sandboxPeakMiB = 0;
    const view = await waitFor(
      `fix job ${jobId} to finish`,
      async () => {
        for (const pod of await pods(SANDBOX_NS)) {
          if (pod.spec.nodeName) sandboxNodes.set(pod.metadata.name, pod.spec.nodeName);
          sandboxPeakMiB = Math.max(sandboxPeakMiB, podPeakMiB(pod.metadata.uid) ?? 0);
        }
        const { json } = await apiRequest('GET', `/v1/fix-jobs/${jobId}`);
        const job = json as JobView;
        return ['queued', 'running'].includes(job.status) ? undefined : job;
      },
      { timeoutMs: 480_000, intervalMs: 1000 },
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await appLogs()}`);
    });

    expect(view.status, `${JSON.stringify(view, null, 2)}\n${await appLogs()}`).toBe('fixed');
    expect(view.baseSha).toBe(repo.sha);
    expect(view.strategy).toBe('prettier-write');
    expect(view.patch).toContain('diff --git a/src/index.js b/src/index.js');
    expect(view.steps.map((step) => step.stage)).toEqual(
      expect.arrayContaining(['cloning', 'installing', 'reproducing', 'fixing', 'verifying']),
    );
    expect(view.steps.filter((step) => step.stage === 'verifying').at(-1)!.exitCode).toBe(0);
    expect([...sandboxNodes.values()].length, 'a sandbox pod was seen').toBeGreaterThan(0);
    sandboxSeen = true;
    expect(new Set(sandboxNodes.values())).toEqual(new Set([nodeName]));
    // The clone and the install came from a pod (a bridge address other than the node's own).
    const fromPods = (hits: Hit[]) => hits.filter((hit) => hit.from.replace(/^::ffff:/, '') !== nodeIp);
    expect(fromPods(gitHits).some((hit) => hit.url.endsWith('/git-upload-pack'))).toBe(true);
    expect(fromPods(npmHits).some((hit) => hit.url.endsWith('.tgz'))).toBe(true);

    // The patch applies to the original commit and makes the check pass, outside any sandbox.
    const clone = path.join(work, 'verify');
    execFileSync('git', ['clone', '-q', repo.path, clone]);
    execFileSync('git', ['checkout', '-q', repo.sha], { cwd: clone });
    execFileSync('git', ['apply', '--check', '-'], { cwd: clone, input: view.patch! });
    execFileSync('git', ['apply', '-'], { cwd: clone, input: view.patch! });
    execFileSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'prettier'), ['--check', 'src'], {
      cwd: clone,
      stdio: 'pipe',
    });
    console.log(
      `pod memory after the fix: ${await podMemory().catch((error: Error) => error.message)}; ` +
        `sandbox pod peak ${sandboxPeakMiB} MiB (cgroup max usage, last seen)`,
    );
  }, 600_000);

  test('helm test passes (the API through its Service name, from a pod on the real node)', async () => {
    const output = await helm(['test', RELEASE, '-n', NS, '--timeout', '180s', '--logs']);
    expect(output).toMatch(/Phase:\s+Succeeded/);
    expect(output).toContain('-> 200');
  }, 240_000);

  test('upgrade with a changed value and rollback keep the API serving and the configuration', async () => {
    const failures: string[] = [];
    let polls = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        polls++;
        const status = await readyzThroughService().catch((error: Error) => error.message);
        if (status !== 200) failures.push(`${new Date().toISOString()} ${status}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    try {
      await helm([
        'upgrade',
        RELEASE,
        CHART_DIR,
        '-n',
        NS,
        '-f',
        valuesFile,
        '--set',
        'config.LOG_LEVEL=debug',
        '--wait',
        '--timeout',
        '300s',
      ]);
      const upgraded = await configMap();
      expect(upgraded.LOG_LEVEL).toBe('debug');
      expect(upgraded.K8S_NODE_SELECTOR).toBe('ci-fixer.dev/node=real');
      expect(await apiToken()).toBe(token);
      const api = await onlyApiPod();
      expect(api.metadata.uid, 'the config change rolled the API').not.toBe(apiPodUid);
      expect(api.spec.nodeName).toBe(nodeName);

      await helm(['rollback', RELEASE, '1', '-n', NS, '--wait', '--timeout', '300s']);
      const rolledBack = await configMap();
      expect(rolledBack.LOG_LEVEL).toBe('info');
      expect(rolledBack.CI_FIXER_REPO_HOSTS).toBe(upgraded.CI_FIXER_REPO_HOSTS);
      expect(await apiToken()).toBe(token);
      expect((await onlyApiPod()).spec.nodeName).toBe(nodeName);
    } finally {
      polling = false;
      await poller;
    }
    expect(polls).toBeGreaterThan(0);
    expect(failures, 'every /readyz through the Service answered 200').toEqual([]);
    // Redis (not restarted by a config change) kept the finished job.
    const { json } = await apiRequest('GET', `/v1/fix-jobs/${jobId}`);
    expect((json as JobView).status).toBe('fixed');
    for (const name of ['api', 'worker', 'redis']) {
      const [pod] = (await pods(NS, component(name))).filter(ready);
      expect(pod, `${name} Ready after the rollback`).toBeDefined();
      expect(
        pod!.status.containerStatuses!.every((status) => status.restartCount === 0),
        `${name} never restarted`,
      ).toBe(true);
    }
    console.log(`pod memory after the rollback: ${await podMemory().catch((error: Error) => error.message)}`);
  }, 720_000);

  test('leaves no sandbox Job behind', async () => {
    expect(sandboxSeen, 'the fix job above ran in a sandbox').toBe(true);
    await waitFor(
      'the sandbox Jobs to be deleted',
      async () => {
        const jobs = await apiserverJson<{ items: unknown[] }>(
          `/apis/batch/v1/namespaces/${SANDBOX_NS}/jobs`,
        );
        return jobs.items.length === 0 ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
  }, 180_000);
});

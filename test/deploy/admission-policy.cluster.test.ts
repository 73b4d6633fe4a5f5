/**
 * The chart's sandbox admission policy (templates/sandbox-admission-policy.yaml) on the dev cluster's real
 * kube-apiserver. The test renders the chart for a release of its own (unique release and namespaces), applies
 * the namespaces, ServiceAccounts, worker Role and the policies, and then acts as that release's worker
 * ServiceAccount with a real token: the Job the kubernetes driver builds is admitted and a sandbox made by the
 * driver runs; every deviation from that Job is denied with the rule's own message; other identities and
 * other namespaces are not affected. Server-side dry-runs wherever nothing needs to run (admission policies
 * run on dry-run requests). Fails, never skips, when the cluster is not up: CI starts it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LABELS, MANAGED_BY, SandboxError } from '@ci-fixer/sandbox';
import { K8S_DEFAULTS, KubernetesDriver } from '@ci-fixer/sandbox/kubernetes';
import { buildJob, networkMode } from '../../packages/sandbox/src/kubernetes/job-spec.ts';
import { waitFor } from '../support/processes.ts';
import { CHART_DIR, REPO_ROOT, findHelm, parseManifests, type Manifest } from './helm.ts';
import { connectCluster, type Cluster } from './kube.ts';

const id = randomBytes(3).toString('hex');
const RELEASE = `cif-ap-${id}`;
const NS = `admission-policy-${id}`;
const SANDBOX_NS = `${NS}-sandboxes`;
const FULLNAME = `${RELEASE}-ci-fixer`;
const WORKER_SA = `${FULLNAME}-worker`;
const SANDBOX_SA = `${FULLNAME}-sandbox`;
const JOB_POLICY = `${FULLNAME}-sandbox-jobs.${NS}`;
const POD_POLICY = `${FULLNAME}-sandbox-pods.${NS}`;
const TEMPLATES = ['sandbox-namespace', 'serviceaccounts', 'rbac', 'sandbox-admission-policy'];

type Job = ReturnType<typeof buildJob>;
type PodSpec = NonNullable<NonNullable<Job['spec']>['template']['spec']>;
type Container = PodSpec['containers'][number];

const run = promisify(execFile);
let cluster: Cluster;
let tmp: string;
let workerKubeconfig: string;
let otherKubeconfig: string;
let workspaceDir: string;

interface Outcome {
  admitted: boolean;
  output: string;
}

/** kubectl with another identity's kubeconfig; resolves with what happened instead of throwing. */
async function kubectlAs(kubeconfig: string, args: string[], input?: string): Promise<Outcome> {
  const kubectl = path.join(path.dirname(findHelm()), 'kubectl');
  return new Promise((resolve) => {
    const child = execFile(
      kubectl,
      args,
      { env: { ...process.env, KUBECONFIG: kubeconfig } },
      (error, stdout, stderr) => resolve({ admitted: !error, output: `${stdout}${stderr}`.trim() }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** A server-side dry-run create in the sandbox namespace, as `kubeconfig`'s identity (admin when omitted). */
async function dryRunCreate(object: object, kubeconfig?: string, namespace = SANDBOX_NS): Promise<Outcome> {
  const args = ['create', '--dry-run=server', '-n', namespace, '-f', '-'];
  if (kubeconfig) return kubectlAs(kubeconfig, args, JSON.stringify(object));
  return cluster.kubectl(args, JSON.stringify(object)).then(
    (output) => ({ admitted: true, output: output.trim() }),
    (error: Error) => ({ admitted: false, output: error.message }),
  );
}

/** A kubeconfig file holding a short-lived TokenRequest token of a ServiceAccount in the release namespace. */
async function serviceAccountKubeconfig(serviceAccount: string): Promise<string> {
  const token = (
    await cluster.kubectl(['create', 'token', serviceAccount, '-n', NS, '--duration', '20m'])
  ).trim();
  const server = JSON.parse(await cluster.kubectl(['config', 'view', '--minify', '--raw', '-o', 'json'])) as {
    clusters: { cluster: Record<string, string> }[];
  };
  const file = path.join(tmp, `${serviceAccount}.kubeconfig`);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'dev', cluster: server.clusters[0]!.cluster }],
      users: [{ name: serviceAccount, user: { token } }],
      contexts: [{ name: 'dev', context: { cluster: 'dev', user: serviceAccount } }],
      'current-context': 'dev',
    }),
    { mode: 0o600 },
  );
  return file;
}

/** The kubernetes driver as the release's worker, with the namespace and sandbox ServiceAccount the chart gives it. */
function workerDriver(): KubernetesDriver {
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = workerKubeconfig;
  try {
    return new KubernetesDriver({
      namespace: SANDBOX_NS,
      serviceAccountName: SANDBOX_SA,
      // The KWOK node runs exec'd commands on this host, under the dev cluster's exec directory.
      workspaceDir,
      cpus: 0.1,
      memoryBytes: 64 * 1_048_576,
      podReadyTimeoutMs: 60_000,
      // Admission is about the Job; nothing here connects to the proxy.
      egressProxy: { address: '127.0.0.1:3128', key: 'k'.repeat(32) },
    });
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
}

const LABELS_OF_A_FIX = {
  [LABELS.managedBy]: MANAGED_BY,
  [LABELS.owner]: `admission-policy-${id}`,
  [LABELS.deployment]: `admission-policy-${id}`,
};

/** The Job the driver sends for a sandbox (its own builder and settings), with the labels the worker sets. */
function driverJob(egress?: string[]): Job {
  return buildJob(workerDriver().settings, {
    name: `cif-admission-policy-${randomBytes(4).toString('hex')}`,
    labels: LABELS_OF_A_FIX,
    network: networkMode(egress),
    maxLifetimeSeconds: 600,
  });
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const podLabelsOf = (job: Job) => job.spec!.template.metadata!.labels!;
const podOf = (job: Job): PodSpec => job.spec!.template.spec!;
const containerOf = (job: Job): Container => podOf(job).containers[0]!;
const securityOf = (job: Job) => (containerOf(job).securityContext ??= {});

/** One change away from the driver's Job each, and the message the policy must answer it with. */
const DEVIATIONS: [string, (job: Job) => void, RegExp][] = [
  [
    'another image',
    (job) => (containerOf(job).image = 'busybox:latest'),
    // The chart's default list is the driver's default image: a default install admits default sandboxes.
    new RegExp(
      `may use only the images in sandbox\\.admissionPolicy\\.allowedImages \\(${escape(K8S_DEFAULTS.image)}\\), not busybox:latest`,
    ),
  ],
  [
    'an init container',
    (job) => (podOf(job).initContainers = [{ ...containerOf(job), name: 'init' }]),
    /sandbox pods have no init containers/,
  ],
  [
    'another ServiceAccount',
    (job) => (podOf(job).serviceAccountName = 'default'),
    new RegExp(`must run as the ServiceAccount ${SANDBOX_SA}, not default`),
  ],
  [
    'a mounted token',
    (job) => (podOf(job).automountServiceAccountToken = true),
    /must set automountServiceAccountToken: false/,
  ],
  [
    'a hostPath volume',
    (job) => podOf(job).volumes!.push({ name: 'host-root', hostPath: { path: '/' } }),
    /may mount emptyDir volumes only, not host-root/,
  ],
  [
    'a Secret volume',
    (job) => podOf(job).volumes!.push({ name: 'creds', secret: { secretName: 'worker-credentials' } }),
    /may mount emptyDir volumes only, not creds/,
  ],
  [
    'a projected token volume',
    (job) =>
      podOf(job).volumes!.push({
        name: 'token',
        projected: { sources: [{ serviceAccountToken: { path: 'token' } }] },
      }),
    /may mount emptyDir volumes only, not token/,
  ],
  [
    'a privileged container',
    // The API itself refuses privileged with allowPrivilegeEscalation: false.
    (job) => Object.assign(securityOf(job), { privileged: true, allowPrivilegeEscalation: true }),
    /sandbox containers may not be privileged/,
  ],
  [
    'privilege escalation',
    (job) => (securityOf(job).allowPrivilegeEscalation = true),
    /must set allowPrivilegeEscalation: false/,
  ],
  [
    'a writable root filesystem',
    (job) => (securityOf(job).readOnlyRootFilesystem = false),
    /must set readOnlyRootFilesystem: true/,
  ],
  ['hostNetwork', (job) => (podOf(job).hostNetwork = true), /may not share the host's network, PID or IPC/],
  ['hostPID', (job) => (podOf(job).hostPID = true), /may not share the host's network, PID or IPC/],
  ['hostIPC', (job) => (podOf(job).hostIPC = true), /may not share the host's network, PID or IPC/],
  [
    'a host port',
    (job) => (containerOf(job).ports = [{ containerPort: 8080, hostPort: 8080 }]),
    /may not use host ports/,
  ],
  ['a chosen node', (job) => (podOf(job).nodeName = 'kwok-node'), /may not name their node/],
  [
    'another runtime class',
    (job) => (podOf(job).runtimeClassName = 'runc'),
    /must use no runtimeClassName, as config\.K8S_RUNTIME_CLASS says/,
  ],
  ['running as root', (job) => (podOf(job).securityContext!.runAsUser = 0), /may not run as root/],
  ['runAsNonRoot false', (job) => (securityOf(job).runAsNonRoot = false), /must run with runAsNonRoot: true/],
  [
    'an added capability',
    (job) => (securityOf(job).capabilities = { drop: ['ALL'], add: ['NET_RAW'] }),
    /may not add capabilities/,
  ],
  [
    'capabilities kept',
    (job) => (securityOf(job).capabilities = { drop: ['NET_RAW'] }),
    /must drop all capabilities/,
  ],
  [
    'seccomp Unconfined',
    (job) => (securityOf(job).seccompProfile = { type: 'Unconfined' }),
    /must run under seccompProfile type: RuntimeDefault/,
  ],
  ['no limits', (job) => delete containerOf(job).resources!.limits, /must set cpu and memory limits/],
  [
    'no memory limit',
    (job) => delete containerOf(job).resources!.limits!.memory,
    /must set cpu and memory limits/,
  ],
  [
    'no ttlSecondsAfterFinished',
    (job) => delete job.spec!.ttlSecondsAfterFinished,
    /must set ttlSecondsAfterFinished/,
  ],
  [
    'no activeDeadlineSeconds',
    (job) => delete job.spec!.activeDeadlineSeconds,
    /must set activeDeadlineSeconds/,
  ],
  [
    'many pods',
    (job) => Object.assign(job.spec!, { parallelism: 20, completions: 20 }),
    /runs one pod of its own/,
  ],
  [
    'no managed-by label on the pod',
    (job) => Reflect.deleteProperty(podLabelsOf(job), LABELS.managedBy),
    /must carry the label app\.kubernetes\.io\/managed-by=ci-fixer/,
  ],
  [
    'no owner label on the Job',
    (job) => Reflect.deleteProperty(job.metadata!.labels!, LABELS.owner),
    /must carry the label ci-fixer\.dev\/owner/,
  ],
  [
    'no deployment label on the pod',
    (job) => Reflect.deleteProperty(podLabelsOf(job), LABELS.deployment),
    /must carry the label ci-fixer\.dev\/deployment/,
  ],
  [
    'another network label',
    (job) => (podLabelsOf(job)['ci-fixer.dev/network'] = 'host'),
    /must carry the label ci-fixer\.dev\/network \(egress or none\)/,
  ],
];

function deviating(change: (job: Job) => void): Job {
  // A copy: buildJob gives the Job and its pod one labels object, and a change is meant for one of them.
  const job = structuredClone(driverJob(['github.com:443']));
  change(job);
  return job;
}

/** The bare Pod a widened Role would let the worker create: the driver's own pod template, as a Pod. */
function barePod(): object {
  const job = driverJob();
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${job.metadata!.name}-bare`, labels: job.spec!.template.metadata!.labels },
    spec: job.spec!.template.spec,
  };
}

async function grant(name: string, namespace: string, rules: object[], serviceAccount = WORKER_SA) {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: { name, namespace },
          rules,
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name, namespace },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
          subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace: NS }],
        },
      ],
    }),
  );
}

let rendered: Manifest[];

async function cleanUp(): Promise<void> {
  // Cluster-scoped: deleting the namespaces leaves them behind.
  await cluster
    .kubectl([
      'delete',
      '--ignore-not-found',
      ...[JOB_POLICY, POD_POLICY].flatMap((name) => [
        `validatingadmissionpolicybinding/${name}`,
        `validatingadmissionpolicy/${name}`,
      ]),
    ])
    .catch(() => {});
  await cluster
    .kubectl(['delete', '--ignore-not-found', '--wait=true', '--timeout=90s', 'namespace', NS, SANDBOX_NS])
    .catch(() => {});
}

beforeAll(async () => {
  cluster = await connectCluster();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'cif-admission-policy-'));
  const { stdout } = await run(path.join(REPO_ROOT, 'scripts', 'dev-cluster'), ['env']);
  workspaceDir = /^export K8S_WORKSPACE_DIR=(.+)$/m.exec(stdout)?.[1]?.replace(/^'|'$/g, '') ?? '';
  if (!workspaceDir) throw new Error(`scripts/dev-cluster env printed no K8S_WORKSPACE_DIR:\n${stdout}`);

  const manifest = await cluster.helm([
    'template',
    RELEASE,
    CHART_DIR,
    '--namespace',
    NS,
    ...TEMPLATES.flatMap((name) => ['--show-only', `templates/${name}.yaml`]),
  ]);
  rendered = parseManifests(manifest);
  await cluster.kubectl(['create', 'namespace', NS]);
  await cluster.kubectl(['apply', '-f', '-'], manifest);
  workerKubeconfig = await serviceAccountKubeconfig(WORKER_SA);

  // A second ServiceAccount with exactly the worker's Role: the policy is about the worker, not the Role.
  await cluster.kubectl(['create', 'serviceaccount', 'not-the-worker', '-n', NS]);
  await cluster.kubectl([
    'create',
    'rolebinding',
    'not-the-worker',
    '-n',
    SANDBOX_NS,
    `--role=${FULLNAME}-worker`,
    `--serviceaccount=${NS}:not-the-worker`,
  ]);
  otherKubeconfig = await serviceAccountKubeconfig('not-the-worker');

  // Policies take effect a moment after they are created: until a Job the policy refuses is refused.
  await waitFor(
    `the policy ${JOB_POLICY} to deny a Job with another image`,
    async () => {
      const probe = await dryRunCreate(deviating(DEVIATIONS[0]![1]), workerKubeconfig);
      return !probe.admitted && probe.output.includes(JOB_POLICY) ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}, 180_000);

afterAll(async () => {
  if (cluster) await cleanUp();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 180_000);

describe('the rendered policy', () => {
  test('two policies and their bindings, named after the release and its namespace, matching only the worker', () => {
    const names = rendered
      .filter((m) => m.kind.startsWith('ValidatingAdmissionPolicy'))
      .map((m) => `${m.kind}/${m.metadata.name}`)
      .sort();
    expect(names).toEqual([
      `ValidatingAdmissionPolicy/${JOB_POLICY}`,
      `ValidatingAdmissionPolicy/${POD_POLICY}`,
      `ValidatingAdmissionPolicyBinding/${JOB_POLICY}`,
      `ValidatingAdmissionPolicyBinding/${POD_POLICY}`,
    ]);
  });

  test.each([[JOB_POLICY], [POD_POLICY]])(
    '%s: every expression type-checks against the real API schema',
    async (name) => {
      // status.typeChecking is written once the apiserver has checked the policy (already, after the probe).
      const policy = await waitFor(`type checking of ${name}`, async () => {
        const live = JSON.parse(
          await cluster.kubectl(['get', 'validatingadmissionpolicy', name, '-o', 'json']),
        ) as {
          metadata: { generation: number };
          status?: { observedGeneration?: number; typeChecking?: { expressionWarnings?: unknown[] } };
        };
        return live.status?.observedGeneration === live.metadata.generation ? live : undefined;
      });
      expect(policy.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
    },
  );
});

describe('as the worker ServiceAccount, in the sandbox namespace', () => {
  test.each([
    ['no egress', undefined],
    ['egress', ['github.com:443']],
  ])('the Job the driver builds (%s) is admitted', async (_mode, egress) => {
    const outcome = await dryRunCreate(driverJob(egress), workerKubeconfig);
    expect(outcome.output).toMatch(
      /^job\.batch\/cif-admission-policy-[0-9a-f]{8} created \(server dry run\)$/,
    );
    expect(outcome.admitted).toBe(true);
  });

  test('a sandbox created by the real driver starts, runs a command and is destroyed', async () => {
    const driver = workerDriver();
    const sandbox = await driver.create({ labels: LABELS_OF_A_FIX, egress: ['github.com:443'] });
    try {
      // Exec is a CONNECT on pods/exec: the bare-Pod policy does not match it.
      const result = await sandbox.exec(['sh', '-c', 'echo admitted']);
      expect(result.stdout).toBe('admitted\n');
    } finally {
      await sandbox.destroy();
    }
    expect((await driver.list(LABELS_OF_A_FIX)).map((s) => s.id)).not.toContain(sandbox.id);
  });

  test('the driver reports a denied Job with the policy’s message, not as a missing permission', async () => {
    const driver = workerDriver();
    const refused = await driver.create({ labels: LABELS_OF_A_FIX, image: 'busybox:latest' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(SandboxError);
    const message = (refused as Error).message;
    expect(message).toContain(`ValidatingAdmissionPolicy '${JOB_POLICY}'`);
    expect(message).toMatch(/may use only the images .*, not busybox:latest/);
    expect(message).not.toContain('worker Role lacks');
  });

  test.each(DEVIATIONS)('a Job with %s is denied, saying why', async (_name, change, message) => {
    const outcome = await dryRunCreate(deviating(change), workerKubeconfig);
    expect(outcome.admitted, outcome.output).toBe(false);
    expect(outcome.output).toContain(
      `ValidatingAdmissionPolicy '${JOB_POLICY}' with binding '${JOB_POLICY}'`,
    );
    expect(outcome.output).toMatch(message);
  });

  test('a bare Pod: refused by the Role today, and by the policy should the Role ever allow it', async () => {
    const byRbac = await dryRunCreate(barePod(), workerKubeconfig);
    expect(byRbac.admitted).toBe(false);
    expect(byRbac.output).toContain(
      `cannot create resource "pods" in API group "" in the namespace "${SANDBOX_NS}"`,
    );
    await grant('widened-pods', SANDBOX_NS, [{ apiGroups: [''], resources: ['pods'], verbs: ['create'] }]);
    const byPolicy = await waitFor('the widened Role to take effect', async () => {
      const outcome = await dryRunCreate(barePod(), workerKubeconfig);
      return outcome.output.includes('cannot create resource') ? undefined : outcome;
    });
    expect(byPolicy.admitted).toBe(false);
    expect(byPolicy.output).toContain(`ValidatingAdmissionPolicy '${POD_POLICY}'`);
    expect(byPolicy.output).toContain('the worker may not create bare Pods in the sandbox namespace');
  });
});

describe('nobody else is affected', () => {
  test.each(DEVIATIONS)('a Job with %s, from the admin, is admitted', async (_name, change) => {
    const outcome = await dryRunCreate(deviating(change));
    expect(outcome.output).toMatch(/created \(server dry run\)$/);
    expect(outcome.admitted).toBe(true);
  });

  test('another ServiceAccount bound to the worker’s Role creates a Job the worker may not', async () => {
    const outcome = await dryRunCreate(
      deviating((job) => (containerOf(job).image = 'busybox:latest')),
      otherKubeconfig,
    );
    expect(outcome.output).toMatch(/created \(server dry run\)$/);
    expect(outcome.admitted).toBe(true);
  });

  test('the worker itself, outside the sandbox namespace', async () => {
    await grant('jobs-outside', NS, [{ apiGroups: ['batch'], resources: ['jobs'], verbs: ['create'] }]);
    const job = deviating((j) => (podOf(j).serviceAccountName = 'default'));
    const outcome = await waitFor('the Role in the release namespace to take effect', async () => {
      const result = await dryRunCreate(job, workerKubeconfig, NS);
      return result.output.includes('cannot create resource') ? undefined : result;
    });
    expect(outcome.output).toMatch(/created \(server dry run\)$/);
    expect(outcome.admitted).toBe(true);
  });
});

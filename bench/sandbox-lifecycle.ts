/**
 * Sandbox lifecycle benchmark, run on demand (not part of the tests):
 *
 *   node bench/sandbox-lifecycle.ts [local|docker|kubernetes|kubernetes-real ...] [--lifecycles N] [--execs N]
 *        [--image IMAGE] [--real-image IMAGE]
 *
 * For each driver: N times create → first exec of `true` returns → destroy, and, in one sandbox, N execs of
 * `true`; p50 and p99 of each. Results replace the driver's rows in the "Sandbox lifecycle" section of
 * docs/benchmarks.md, so drivers can be measured one at a time. The docker driver uses DOCKER_HOST; the
 * kubernetes driver KUBECONFIG, K8S_NAMESPACE and K8S_WORKSPACE_DIR, e.g. from
 * `eval "$(scripts/dev-cluster env)"`. kubernetes-real is the same driver with its sandboxes pointed at the dev
 * cluster's real node (kubelet + containerd + runc: label, toleration, /workspace emptyDir, an image imported
 * by `scripts/dev-cluster up`), so the pods really start and exec runs in the container.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { format, resolveConfig } from 'prettier';
import { LABELS, MANAGED_BY, type SandboxDriver, type SandboxSpec } from '@ci-fixer/sandbox';
import { DockerDriver } from '@ci-fixer/sandbox/docker';
import { KubernetesDriver } from '@ci-fixer/sandbox/kubernetes';
import { LocalDriver } from '@ci-fixer/sandbox/local';

interface Target {
  driver: SandboxDriver;
  spec: Partial<SandboxSpec>;
  /** How this driver ran here: isolation mode, engine and image. */
  setting: string;
}

const TARGETS: Record<string, (image: string) => Promise<Target>> = {
  local: async () => {
    const driver = new LocalDriver({ root: mkdtempSync(path.join(os.tmpdir(), 'cif-bench-')) });
    return { driver, spec: {}, setting: `isolation ${driver.isolation}` };
  },
  docker: async (image) => {
    const driver = new DockerDriver({ image });
    await driver.preflight();
    const version = await driver.docker.version();
    const engine = version.Components?.find((component) => /podman/i.test(component.Name));
    // podman names it `OCI Runtime (runc)`.
    const runtime = version.Components?.find((component) => /runtime/i.test(component.Name));
    const runtimeName = runtime ? (/\((.+)\)/.exec(runtime.Name)?.[1] ?? runtime.Name) : undefined;
    const engineName = engine ? `podman ${engine.Version}` : `Docker ${version.Version}`;
    return {
      driver,
      spec: { image, network: false },
      setting: `${engineName}${runtimeName ? ` + ${runtimeName}` : ''}, image ${image}, no network`,
    };
  },
  kubernetes: async (image) => {
    // KUBECONFIG (or the in-cluster account), as the worker loads it.
    const driver = new KubernetesDriver({
      image,
      ...(process.env.K8S_NAMESPACE ? { namespace: process.env.K8S_NAMESPACE } : {}),
      ...(process.env.K8S_WORKSPACE_DIR ? { workspaceDir: process.env.K8S_WORKSPACE_DIR } : {}),
    });
    await driver.preflight();
    return { driver, spec: { image }, setting: `${await driver.describeCluster()}, exec over WebSocket` };
  },
  'kubernetes-real': async () => {
    const image = realImage;
    const driver = new KubernetesDriver({
      image,
      ...(process.env.K8S_NAMESPACE ? { namespace: process.env.K8S_NAMESPACE } : {}),
      workspaceDir: '/workspace',
      nodeSelector: { 'ci-fixer.dev/node': 'real' },
      tolerations: [{ key: 'ci-fixer.dev/real-node', operator: 'Exists', effect: 'NoSchedule' }],
      cpus: 0.25,
      memoryBytes: 256 * 1_048_576,
    });
    await driver.preflight();
    return {
      driver,
      spec: { image },
      setting: `${await driver.describeCluster()}, real node (kubelet + containerd 1.6 + runc), image ${image}`,
    };
  },
};

let realImage = 'ci-fixer/test-busybox:dev-cluster';

const SECTION = '## Sandbox lifecycle';
const BENCHMARKS = path.join(import.meta.dirname, '..', 'docs', 'benchmarks.md');

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const ms = (value: number) => `${value.toFixed(value < 10 ? 1 : 0)} ms`;

async function measure(
  name: string,
  target: Target,
  lifecycles: number,
  execs: number,
): Promise<{ row: string; summary: string }> {
  const owner = `bench-${randomBytes(4).toString('hex')}`;
  const spec: SandboxSpec = {
    ...target.spec,
    labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: owner },
  };
  const expectOk = (exitCode: number) => {
    if (exitCode !== 0) throw new Error(`\`true\` exited ${exitCode} in the ${name} sandbox`);
  };

  const lifecycle: number[] = [];
  const toFirstExec: number[] = [];
  const destroy: number[] = [];
  for (let i = 0; i < lifecycles; i++) {
    const started = performance.now();
    const sandbox = await target.driver.create(spec);
    let destroyFrom: number;
    try {
      expectOk((await sandbox.exec(['true'])).exitCode);
      toFirstExec.push(performance.now() - started);
    } finally {
      destroyFrom = performance.now();
      await sandbox.destroy();
    }
    destroy.push(performance.now() - destroyFrom);
    lifecycle.push(performance.now() - started);
  }

  const exec: number[] = [];
  const sandbox = await target.driver.create(spec);
  try {
    for (let i = 0; i < execs; i++) {
      const started = performance.now();
      expectOk((await sandbox.exec(['true'])).exitCode);
      exec.push(performance.now() - started);
    }
  } finally {
    await sandbox.destroy();
  }

  const cells = [
    name,
    // Other work on a 2-core machine moves these figures; the load average says how much there was.
    `${target.setting}; create → first exec p50 ${ms(percentile(toFirstExec, 50))}, p99 ${ms(percentile(toFirstExec, 99))}; destroy p50 ${ms(percentile(destroy, 50))}; load ${os.loadavg()[0]!.toFixed(1)}`,
    ms(percentile(lifecycle, 50)),
    ms(percentile(lifecycle, 99)),
    String(lifecycles),
    ms(percentile(exec, 50)),
    ms(percentile(exec, 99)),
    String(execs),
  ];
  return {
    row: `| ${cells.join(' | ')} |`,
    summary: `${name}: lifecycle p50 ${cells[2]} p99 ${cells[3]}; exec p50 ${cells[5]} p99 ${cells[6]}`,
  };
}

/** Replaces the rows of the measured drivers in the section's table, keeping the others. */
async function record(rows: Map<string, string>): Promise<void> {
  const existing = await fs.readFile(BENCHMARKS, 'utf8').catch(() => '# Benchmarks\n');
  const start = existing.indexOf(SECTION);
  // The section ends at the next heading or at another benchmark's marker comment, which is not ours to drop.
  const ends = ['\n## ', '\n<!-- ']
    .map((marker) => (start < 0 ? -1 : existing.indexOf(marker, start + SECTION.length)))
    .filter((index) => index >= 0);
  const end = ends.length > 0 ? Math.min(...ends) : -1;
  const old = start < 0 ? '' : existing.slice(start, end < 0 ? undefined : end + 1);
  const kept = new Map<string, string>();
  for (const line of old.split('\n')) {
    const driver = /^\|\s*([\w-]+)\s*\|/.exec(line)?.[1];
    if (driver && driver in TARGETS && line.split('|').length === 10) kept.set(driver, line);
  }
  for (const [driver, row] of rows) kept.set(driver, row);
  const ordered = Object.keys(TARGETS).flatMap((driver) => kept.get(driver) ?? []);

  const section = [
    SECTION,
    '',
    'Made by `node bench/sandbox-lifecycle.ts [local|docker|kubernetes|kubernetes-real]` (on demand, not in CI). **Lifecycle**: create a',
    'sandbox → the first exec of `true` returns → destroy, end to end. **Exec**: one `true` in a sandbox that',
    'already runs. p99 is of the stated number of runs (with few runs it is close to the maximum).',
    '',
    `Machine: ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.versions.node};`,
    'the docker driver talks to podman 4.3 with runc through its Docker-compatible API (docs/podman.md);',
    'the kubernetes driver to scripts/dev-cluster as the worker ServiceAccount: a real API server, Job',
    'controller and scheduler, but a KWOK node that pulls no image and runs exec on the host (docs/dev-cluster.md),',
    'so its figures are the API path (create Job → watch → pod Running → exec WebSocket), not a kubelet.',
    'kubernetes-real: the same cluster with the sandboxes on its real node (a kubelet with containerd 1.6 and runc,',
    'cgroupfs, CNI bridge): the image is unpacked, the pod sandbox and container really start, exec runs in the',
    'container through the kubelet, and destroy deletes the Job (the pod is killed in the background).',
    `Last run: ${new Date().toISOString().slice(0, 10)}.`,
    '',
    '| driver | setting | lifecycle p50 | lifecycle p99 | runs | exec p50 | exec p99 | runs |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...ordered,
    '',
  ].join('\n');
  const updated =
    start < 0
      ? `${existing.trimEnd()}\n\n${section}`
      : `${existing.slice(0, start)}${section}${end < 0 ? '' : existing.slice(end + 1)}`;
  await fs.mkdir(path.dirname(BENCHMARKS), { recursive: true });
  // Formatted as `pnpm lint` expects, so a run leaves the repository clean.
  await fs.writeFile(
    BENCHMARKS,
    await format(updated, { ...(await resolveConfig(BENCHMARKS)), parser: 'markdown' }),
  );
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      lifecycles: { type: 'string', default: '30' },
      execs: { type: 'string', default: '200' },
      image: { type: 'string', default: 'ci-fixer/sandbox:latest' },
      'real-image': { type: 'string', default: realImage },
    },
  });
  realImage = values['real-image'];
  const names = positionals.length > 0 ? positionals : Object.keys(TARGETS);
  for (const name of names) {
    if (!TARGETS[name]) throw new Error(`unknown driver ${name}; known: ${Object.keys(TARGETS).join(', ')}`);
  }
  const rows = new Map<string, string>();
  for (const name of names) {
    const target = await TARGETS[name]!(values.image);
    const { row, summary } = await measure(name, target, Number(values.lifecycles), Number(values.execs));
    console.log(summary);
    rows.set(name, row);
  }
  await record(rows);
  console.log(`updated ${path.relative(process.cwd(), BENCHMARKS)}`);
}

await main();

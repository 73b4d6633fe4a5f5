/** kubectl and helm against the local cluster of scripts/dev-cluster (admin kubeconfig). */
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, findHelm } from './helm.ts';

const run = promisify(execFile);

export interface Cluster {
  env: NodeJS.ProcessEnv;
  kubectl(args: string[], input?: string): Promise<string>;
  helm(args: string[]): Promise<string>;
}

async function exec(file: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error)
        reject(new Error(`${path.basename(file)} ${args.join(' ')} failed:\n${stderr || error.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/**
 * The running dev cluster, or an error that says how to start it. Never a skip: CI starts the cluster, and a
 * test that quietly does nothing when it is down would hide that.
 */
export async function connectCluster(): Promise<Cluster> {
  const script = path.join(REPO_ROOT, 'scripts', 'dev-cluster');
  let exports: string;
  try {
    ({ stdout: exports } = await run(script, ['env', '--admin']));
  } catch (error) {
    throw new Error(
      `the dev cluster is not up (scripts/dev-cluster env --admin failed): run \`scripts/dev-cluster up\``,
      {
        cause: error,
      },
    );
  }
  const kubeconfig = /^export KUBECONFIG=(.+)$/m.exec(exports)?.[1]?.replace(/^'|'$/g, '');
  if (!kubeconfig) throw new Error(`scripts/dev-cluster env --admin printed no KUBECONFIG:\n${exports}`);
  const helmBin = findHelm();
  const kubectlBin = path.join(path.dirname(helmBin), 'kubectl');
  const env = { ...process.env, KUBECONFIG: kubeconfig };
  const cluster: Cluster = {
    env,
    kubectl: (args, input) => exec(kubectlBin, args, env, input),
    helm: (args) => exec(helmBin, args, env),
  };
  try {
    await cluster.kubectl(['get', '--raw', '/readyz']);
  } catch (error) {
    throw new Error(
      'the dev cluster does not answer /readyz: run `scripts/dev-cluster up` (or `status` to see why)',
      {
        cause: error,
      },
    );
  }
  return cluster;
}

/**
 * CRDs of the optional integrations (KEDA ScaledObject/TriggerAuthentication, Prometheus Operator
 * ServiceMonitor/PodMonitor), taken from the projects' own Go modules through the Go module proxy, so the
 * apiserver validates the chart's objects of those kinds against their real schemas.
 */
export const CRD_SOURCES = [
  {
    module: 'github.com/kedacore/keda/v2@v2.21.0',
    files: [
      'config/crd/bases/keda.sh_scaledobjects.yaml',
      'config/crd/bases/keda.sh_triggerauthentications.yaml',
    ],
  },
  {
    module: 'github.com/prometheus-operator/prometheus-operator@v0.85.0',
    files: [
      'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml',
      'example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml',
    ],
  },
];

export async function installIntegrationCrds(cluster: Cluster): Promise<void> {
  for (const source of CRD_SOURCES) {
    let dir: string;
    try {
      const { stdout } = await run('go', ['mod', 'download', '-json', source.module], { cwd: os.tmpdir() });
      dir = (JSON.parse(stdout) as { Dir: string }).Dir;
    } catch (error) {
      throw new Error(
        `cannot fetch ${source.module} through the Go module proxy (needs Go; scripts/dev-cluster needs it too)`,
        {
          cause: error,
        },
      );
    }
    for (const file of source.files) {
      await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', path.join(dir, file)]);
    }
  }
  for (const crd of [
    'scaledobjects.keda.sh',
    'triggerauthentications.keda.sh',
    'servicemonitors.monitoring.coreos.com',
    'podmonitors.monitoring.coreos.com',
  ]) {
    await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${crd}`]);
  }
}

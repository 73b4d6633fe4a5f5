import path from 'node:path';
import {
  BatchV1Api,
  CoreV1Api,
  Exec,
  KubeConfig,
  VersionApi,
  type V1Toleration,
} from '@kubernetes/client-node';
import { assertValidLabels, LABELS, MANAGED_BY } from '../labels.ts';
import {
  SandboxError,
  type ExecOptions,
  type ExecResult,
  type PreflightReport,
  type Sandbox,
  type SandboxDriver,
  type SandboxInfo,
  type SandboxSpec,
} from '../types.ts';
import { parseProxyAddress, sandboxProxyEnvironment, type EgressProxySettings } from './egress.ts';
import { runCommand, type ExecTarget, type RunDefaults } from './exec.ts';
import { readFileInPod, relativeInside, writeFileInPod } from './files.ts';
import { APP_LABELS, buildJob, jobName, labelSelector, networkMode, type PodSettings } from './job-spec.ts';
import { preflightKubernetes } from './preflight.ts';
import { apiFailure, waitForPod } from './wait.ts';

export interface KubernetesDriverOptions {
  /** Defaults to KubeConfig.loadFromDefault(): KUBECONFIG, ~/.kube/config, or the in-cluster ServiceAccount. */
  kubeConfig?: KubeConfig;
  namespace?: string;
  image?: string;
  serviceAccountName?: string;
  /** Numeric `uid:gid` commands run as (the same SANDBOX_USER as the docker driver); root is refused. */
  user?: string;
  /** Absolute directory in the pod, mounted as an emptyDir; each sandbox works in `<dir>/<id>/workspace`. */
  workspaceDir?: string;
  cpus?: number;
  memoryBytes?: number;
  ephemeralStorageBytes?: number;
  ttlSecondsAfterFinished?: number;
  runtimeClassName?: string;
  priorityClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
  imagePullSecrets?: string[];
  podReadyTimeoutMs?: number;
  /** Preflight fails unless NetworkPolicies confine sandbox pods (K8S_REQUIRE_NETWORK_POLICY); default true. */
  requireNetworkPolicy?: boolean;
  /**
   * The egress proxy that enforces each sandbox's allow-list (K8S_EGRESS_PROXY, SANDBOX_EGRESS_PROXY_KEY).
   * Without it a spec with egress is refused: a NetworkPolicy alone cannot allow hosts by name.
   */
  egressProxy?: EgressProxySettings;
  /** Lifetime of sandboxes whose spec sets none. */
  defaultMaxLifetimeSeconds?: number;
  defaultTimeoutMs?: number;
  defaultMaxOutputBytes?: number;
}

export const K8S_DEFAULTS = {
  namespace: 'ci-fixer-sandboxes',
  image: 'ci-fixer/sandbox:latest',
  serviceAccountName: 'ci-fixer-sandbox',
  user: '1000:1000',
  workspaceDir: '/workspace',
  cpus: 2,
  memoryBytes: 4096 * 1_048_576,
  ttlSecondsAfterFinished: 300,
  podReadyTimeoutMs: 120_000,
  defaultMaxLifetimeSeconds: 3600,
} as const;

/** How long destroy() waits for running commands to be killed before it deletes the Job anyway. */
const STOP_COMMANDS_MS = 10_000;

const ID_PATTERN = /^cif-[a-z0-9-]{1,60}$/;

/**
 * Sandboxes as Kubernetes Jobs: one batch/v1 Job (one pod) per sandbox in one namespace, commands and files
 * through the exec API. Isolation is the pod's: its own filesystem, a non-root user with no capabilities,
 * RuntimeDefault seccomp, resource limits, and whatever runtimeClassName adds (gVisor, Kata).
 */
export class KubernetesDriver implements SandboxDriver {
  readonly name = 'kubernetes' as const;
  readonly capabilities = { hostPaths: false, cacheDir: false };
  readonly namespace: string;
  readonly kubeConfig: KubeConfig;
  readonly settings: PodSettings;
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly exec: Exec;
  private readonly podReadyTimeoutMs: number;
  private readonly requireNetworkPolicy: boolean;
  private readonly defaultMaxLifetimeSeconds: number;
  private readonly runDefaults: RunDefaults;
  private readonly egressProxy: EgressProxySettings | undefined;

  constructor(options: KubernetesDriverOptions = {}) {
    this.kubeConfig = options.kubeConfig ?? loadDefaultKubeConfig();
    this.namespace = options.namespace ?? K8S_DEFAULTS.namespace;
    const workspaceDir = options.workspaceDir ?? K8S_DEFAULTS.workspaceDir;
    if (!path.posix.isAbsolute(workspaceDir))
      throw new SandboxError(`the sandbox workspace directory must be absolute: ${workspaceDir}`);
    const user = /^(\d+):(\d+)$/.exec(options.user ?? K8S_DEFAULTS.user);
    if (!user || user[1] === '0')
      throw new SandboxError(`the sandbox user must be a numeric non-root uid:gid, got ${options.user}`);
    this.settings = {
      uid: Number(user[1]),
      gid: Number(user[2]),
      image: options.image ?? K8S_DEFAULTS.image,
      serviceAccountName: options.serviceAccountName ?? K8S_DEFAULTS.serviceAccountName,
      workspaceDir: path.posix.normalize(workspaceDir),
      limits: {
        cpus: options.cpus ?? K8S_DEFAULTS.cpus,
        memoryBytes: options.memoryBytes ?? K8S_DEFAULTS.memoryBytes,
        ...(options.ephemeralStorageBytes ? { ephemeralStorageBytes: options.ephemeralStorageBytes } : {}),
      },
      ttlSecondsAfterFinished: options.ttlSecondsAfterFinished ?? K8S_DEFAULTS.ttlSecondsAfterFinished,
      ...(options.runtimeClassName ? { runtimeClassName: options.runtimeClassName } : {}),
      ...(options.priorityClassName ? { priorityClassName: options.priorityClassName } : {}),
      ...(options.nodeSelector ? { nodeSelector: options.nodeSelector } : {}),
      ...(options.tolerations ? { tolerations: options.tolerations } : {}),
      ...(options.imagePullSecrets ? { imagePullSecrets: options.imagePullSecrets } : {}),
    };
    this.batch = this.kubeConfig.makeApiClient(BatchV1Api);
    this.core = this.kubeConfig.makeApiClient(CoreV1Api);
    this.exec = new Exec(this.kubeConfig);
    this.podReadyTimeoutMs = options.podReadyTimeoutMs ?? K8S_DEFAULTS.podReadyTimeoutMs;
    this.requireNetworkPolicy = options.requireNetworkPolicy ?? true;
    if (options.egressProxy) parseProxyAddress(options.egressProxy.address);
    this.egressProxy = options.egressProxy;
    this.defaultMaxLifetimeSeconds =
      options.defaultMaxLifetimeSeconds ?? K8S_DEFAULTS.defaultMaxLifetimeSeconds;
    this.runDefaults = {
      timeoutMs: options.defaultTimeoutMs ?? 15 * 60_000,
      maxOutputBytes: options.defaultMaxOutputBytes ?? 1_048_576,
    };
  }

  /**
   * Checks that this identity holds every permission the driver uses (names all missing ones at once) and,
   * unless turned off, that NetworkPolicies confine sandbox pods: the driver itself cannot limit a pod's network.
   */
  async preflight(): Promise<PreflightReport> {
    await preflightKubernetes(this.kubeConfig, this.namespace, {
      requireNetworkPolicy: this.requireNetworkPolicy,
    });
    const warnings: string[] = [];
    if (!this.settings.runtimeClassName)
      warnings.push(
        'K8S_RUNTIME_CLASS is not set: sandbox pods share the node kernel (runc). Set a gVisor or Kata runtime class for code you do not trust.',
      );
    if (!this.requireNetworkPolicy)
      warnings.push(
        'K8S_REQUIRE_NETWORK_POLICY=false: nothing checked that NetworkPolicies confine sandbox pods; repository code may reach Redis, the API and the cluster network.',
      );
    return {
      isolation:
        `one pod per sandbox in namespace ${this.namespace}` +
        `${this.settings.runtimeClassName ? ` (runtime class ${this.settings.runtimeClassName})` : ''}` +
        `${this.requireNetworkPolicy ? ', confined by NetworkPolicies' : ''}` +
        `${this.egressProxy ? `, egress only through the proxy at ${this.egressProxy.address} (per-sandbox allow-list)` : ', no egress (K8S_EGRESS_PROXY unset)'}`,
      warnings,
    };
  }

  async close(): Promise<void> {}

  /** The API server's address and version, for logs and benchmark reports. */
  async describeCluster(): Promise<string> {
    const version = await this.kubeConfig.makeApiClient(VersionApi).getCode();
    return `${this.kubeConfig.getCurrentCluster()?.server ?? 'unknown server'} (kube-apiserver ${version.gitVersion})`;
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    assertValidLabels(spec.labels);
    for (const field of ['cacheDir', 'readOnlyHostPaths'] as const) {
      if (spec[field]?.length)
        throw new SandboxError(`the kubernetes driver cannot honour spec.${field}: a pod has no worker host`);
    }
    const network = networkMode(spec.egress);
    if (network === 'egress' && !this.egressProxy)
      throw new SandboxError(
        'the kubernetes driver cannot honour spec.egress without its egress proxy: set K8S_EGRESS_PROXY and SANDBOX_EGRESS_PROXY_KEY (the chart does)',
      );
    const name = jobName(spec.labels[LABELS.fixJob]);
    const maxLifetimeSeconds = spec.maxLifetimeSeconds ?? this.defaultMaxLifetimeSeconds;
    const proxyEnv =
      network === 'egress'
        ? await sandboxProxyEnvironment(this.egressProxy!, name, spec.egress!, maxLifetimeSeconds)
        : {};
    const body = buildJob(this.settings, {
      name,
      labels: spec.labels,
      network,
      ...(spec.image ? { image: spec.image } : {}),
      ...(spec.limits ? { limits: spec.limits } : {}),
      maxLifetimeSeconds,
    });
    await this.batch.createNamespacedJob({ namespace: this.namespace, body }).catch((error: unknown) => {
      throw apiFailure(error, name, `create the sandbox Job in namespace ${this.namespace}`);
    });
    let pod: string;
    try {
      pod = await waitForPod(
        { kubeConfig: this.kubeConfig, core: this.core, namespace: this.namespace },
        name,
        this.podReadyTimeoutMs,
      );
    } catch (error) {
      await this.destroy(name).catch(() => {});
      throw error;
    }
    const baseDir = `${this.settings.workspaceDir}/${name}`;
    return new KubernetesSandbox(
      this,
      { exec: this.exec, namespace: this.namespace, pod, sandboxId: name, baseDir },
      { ...spec.labels },
      spec.env ?? {},
      proxyEnv,
      this.runDefaults,
    );
  }

  async list(selector: Record<string, string> = {}): Promise<SandboxInfo[]> {
    const jobs = await this.batch
      .listNamespacedJob({
        namespace: this.namespace,
        labelSelector: labelSelector({ ...APP_LABELS, [LABELS.managedBy]: MANAGED_BY, ...selector }),
      })
      .catch((error: unknown) => {
        throw apiFailure(error, undefined, `list sandbox Jobs in namespace ${this.namespace}`);
      });
    return jobs.items
      .filter((job) => !job.metadata?.deletionTimestamp)
      .map((job) => ({
        id: job.metadata!.name!,
        labels: { ...job.metadata!.labels },
        createdAt: new Date(job.metadata!.creationTimestamp!),
      }));
  }

  /** Deletes the Job; the garbage collector deletes its pod (Background propagation). A missing Job is fine. */
  async destroy(id: string): Promise<void> {
    if (!ID_PATTERN.test(id)) throw new SandboxError(`not a kubernetes sandbox id: ${JSON.stringify(id)}`);
    await this.batch
      .deleteNamespacedJob({ name: id, namespace: this.namespace, propagationPolicy: 'Background' })
      .catch((error: unknown) => {
        if ((error as { code?: number }).code === 404) return;
        throw apiFailure(error, id, `delete sandbox Job ${id}`);
      });
  }
}

class KubernetesSandbox implements Sandbox {
  readonly id: string;
  readonly workdir: string;
  readonly labels: Readonly<Record<string, string>>;
  private readonly driver: KubernetesDriver;
  private readonly target: ExecTarget;
  private readonly env: Record<string, string>;
  private readonly proxyEnv: Record<string, string>;
  private readonly defaults: RunDefaults;
  private readonly running = new Map<AbortController, Promise<unknown>>();
  private destroyed = false;

  constructor(
    driver: KubernetesDriver,
    target: ExecTarget,
    labels: Record<string, string>,
    env: Record<string, string>,
    proxyEnv: Record<string, string>,
    defaults: RunDefaults,
  ) {
    this.driver = driver;
    this.target = target;
    this.id = target.sandboxId;
    this.labels = labels;
    this.env = env;
    this.proxyEnv = proxyEnv;
    this.defaults = defaults;
    this.workdir = `${target.baseDir}/workspace`;
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.assertUsable();
    if (argv.length === 0) throw new SandboxError('exec needs a command', { sandboxId: this.id });
    const cwd = path.posix.resolve(this.workdir, options.cwd ?? '.');
    const env = {
      HOME: `${this.target.baseDir}/home`,
      TMPDIR: `${this.target.baseDir}/tmp`,
      ...this.env,
      ...options.env,
      // Last, so that nothing passed can point a command past its proxy.
      ...this.proxyEnv,
    };
    const stop = new AbortController();
    const result = runCommand(
      this.target,
      argv,
      cwd,
      env,
      { ...options, signal: options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal },
      this.defaults,
    );
    this.running.set(stop, result);
    try {
      return await result;
    } finally {
      this.running.delete(stop);
    }
  }

  async writeFile(target: string, data: Uint8Array | string): Promise<void> {
    this.assertUsable();
    const relative = relativeInside(this.workdir, target, this.id);
    await writeFileInPod(this.target, this.workdir, relative, Buffer.from(data));
  }

  async readFile(target: string): Promise<Buffer> {
    this.assertUsable();
    return readFileInPod(this.target, this.workdir, relativeInside(this.workdir, target, this.id));
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    // Commands are killed inside the pod before it goes, so that none outlives it on any node.
    for (const stop of this.running.keys()) stop.abort();
    await Promise.race([
      Promise.allSettled(this.running.values()),
      new Promise((resolve) => setTimeout(resolve, STOP_COMMANDS_MS).unref()),
    ]);
    await this.driver.destroy(this.id);
  }

  private assertUsable(): void {
    if (this.destroyed) throw new SandboxError('sandbox is destroyed', { sandboxId: this.id });
  }
}

function loadDefaultKubeConfig(): KubeConfig {
  const config = new KubeConfig();
  config.loadFromDefault();
  return config;
}

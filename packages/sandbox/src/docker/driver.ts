import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { proxyEnvironment } from '../egress/environment.ts';
import type { EgressGrant } from '../egress/proxy.ts';
import { SANDBOX_DEFAULTS } from '../defaults.ts';
import { assertValidLabels, LABELS, matchesSelector } from '../labels.ts';
import {
  SandboxError,
  type PreflightReport,
  type Sandbox,
  type SandboxDriver,
  type SandboxInfo,
  type SandboxLimits,
  type SandboxSpec,
} from '../types.ts';
import type { Owner } from './archive.ts';
import { startEgressSocket, type EgressSocket } from './egress-socket.ts';
import { describeEndpoint, ensureImage, exists, reason, statusOf, type Engine } from './engine.ts';
import { definedLimits, describeLimits, tmpfsSizes } from './limits.ts';
import { DOCKER_WORKDIR, DockerSandbox } from './sandbox.ts';
import { awaitRelay, SOCKET_IN_SANDBOX, SUPERVISOR_SCRIPT } from './supervisor.ts';

export { DOCKER_WORKDIR };

export interface DockerDriverOptions {
  /**
   * The engine client. By default dockerode's: DOCKER_HOST (unix://, tcp://, ssh://, with DOCKER_TLS_VERIFY
   * and DOCKER_CERT_PATH), else /var/run/docker.sock.
   */
  docker?: Docker;
  /** Image for sandboxes whose spec names none. */
  image?: string;
  /**
   * Host directory for the egress proxy's Unix socket, which is bind-mounted into sandboxes with egress.
   * It must be the same path on the engine's host and here (a worker in a container binds it at the same
   * path). Default: `<tmpdir>/ci-fixer-egress-<uid>`.
   */
  egressDir?: string;
  /** `uid:gid` commands run as; numeric, so that it means the same in every image and on every engine. */
  user?: string;
  /** $HOME inside the sandbox, a private tmpfs owned by `user` (npm and pnpm keep caches there). */
  home?: string;
  /** Limits for sandboxes whose spec gives none. */
  limits?: SandboxLimits;
  defaultTimeoutMs?: number;
  defaultMaxOutputBytes?: number;
  /** Lifetime of sandboxes whose spec gives none. */
  defaultMaxLifetimeSeconds?: number;
}

const ID_PATTERN = /^sbx-[0-9a-f]{16}$/;
const USER_PATTERN = /^(\d+):(\d+)$/;

const DEFAULTS = {
  image: 'ci-fixer/sandbox:latest',
  user: '1000:1000',
  home: '/home/sandbox',
  limits: {
    cpus: SANDBOX_DEFAULTS.limits.cpus,
    memoryBytes: SANDBOX_DEFAULTS.limits.memoryMb * 1_048_576,
    pids: SANDBOX_DEFAULTS.limits.pids,
    diskBytes: SANDBOX_DEFAULTS.limits.diskMb * 1_048_576,
  },
  timeoutMs: 15 * 60_000,
  maxOutputBytes: 1_048_576,
  maxLifetimeSeconds: 6 * 3600,
};

/**
 * One container per sandbox, through the Docker Engine API (Docker, or podman's compatible service).
 *
 * The container's main process sleeps out `maxLifetimeSeconds` under the engine's init, so a sandbox whose
 * owner died ends by itself, and AutoRemove then deletes it. Everything else runs as execs: unprivileged,
 * no capabilities, read-only root, limits from the spec. The workspace, /tmp and $HOME are tmpfs, which
 * count against the memory limit (see tmpfsSizes).
 *
 * Every container has network `none`: only loopback. A sandbox with egress gets a grant on the driver's
 * EgressProxy, whose Unix socket is bind-mounted read-only into it, and socat in the container relays
 * 127.0.0.1:3128 to that socket; its commands get the proxy variables. So it reaches what its allow-list
 * names and nothing else: not the host's loopback services, not private or metadata addresses.
 */
export class DockerDriver implements SandboxDriver {
  readonly name = 'docker' as const;
  /** Host paths are paths on the engine's host: they make sense when it is the worker's host. */
  readonly capabilities = { hostPaths: true, cacheDir: true };
  readonly docker: Docker;
  private readonly image: string;
  private readonly egressDir: string;
  private egress: Promise<EgressSocket> | undefined;
  private readonly grants = new Map<string, EgressGrant>();
  private readonly user: string;
  private readonly owner: Owner;
  private readonly home: string;
  private readonly limits: SandboxLimits;
  private readonly defaults: { timeoutMs: number; maxOutputBytes: number };
  private readonly defaultMaxLifetimeSeconds: number;
  private engine: Promise<Engine> | undefined;

  constructor(options: DockerDriverOptions = {}) {
    this.docker = options.docker ?? new Docker();
    this.image = options.image ?? DEFAULTS.image;
    this.egressDir =
      options.egressDir ?? path.join(os.tmpdir(), `ci-fixer-egress-${process.getuid?.() ?? 'user'}`);
    this.user = options.user ?? DEFAULTS.user;
    const user = USER_PATTERN.exec(this.user);
    if (!user)
      throw new SandboxError(`sandbox user must be numeric uid:gid, got ${JSON.stringify(this.user)}`);
    this.owner = { uid: Number(user[1]), gid: Number(user[2]) };
    this.home = options.home ?? DEFAULTS.home;
    this.limits = { ...DEFAULTS.limits, ...options.limits };
    this.defaults = {
      timeoutMs: options.defaultTimeoutMs ?? DEFAULTS.timeoutMs,
      maxOutputBytes: options.defaultMaxOutputBytes ?? DEFAULTS.maxOutputBytes,
    };
    this.defaultMaxLifetimeSeconds = options.defaultMaxLifetimeSeconds ?? DEFAULTS.maxLifetimeSeconds;
  }

  /** Closes the egress proxy: sandboxes left running lose their way out. */
  async close(): Promise<void> {
    const egress = await this.egress?.catch(() => undefined);
    this.egress = undefined;
    for (const grant of this.grants.values()) grant.revoke();
    this.grants.clear();
    if (!egress) return;
    await egress.proxy.close();
    await rm(egress.socket, { force: true });
  }

  /** Fails with a message that names the endpoint when the engine does not answer. */
  async preflight(): Promise<PreflightReport> {
    try {
      await this.docker.ping();
    } catch (error) {
      throw new SandboxError(
        `the container engine at ${describeEndpoint()} does not answer (${(error as Error).message}); ` +
          'start Docker or `scripts/podman-service up`, and set DOCKER_HOST to its socket',
        { cause: error },
      );
    }
    const { socket } = await this.ensureEgress();
    const warnings: string[] = [];
    const host = process.env.DOCKER_HOST;
    if (host && !host.startsWith('unix://')) {
      warnings.push(
        `DOCKER_HOST=${host} is not a local socket: the egress socket (${socket}) and host paths are bind-mounted, which works only when the engine runs on this host and sees ${this.egressDir} at the same path`,
      );
    }
    return {
      isolation:
        `one container per sandbox (${await this.detectEngine()} at ${describeEndpoint()}): network none, ` +
        `read-only root, no capabilities, limits ${describeLimits(this.limits)}; egress only through the ` +
        `driver's proxy at ${socket}, bind-mounted read-only and relayed by socat inside the container ` +
        "(the engine must run on the worker's host)",
      warnings,
    };
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    assertValidLabels(spec.labels);
    const id = `sbx-${randomBytes(8).toString('hex')}`;
    const image = spec.image ?? this.image;
    await ensureImage(this.docker, image);
    // The engine refuses a bind mount whose source is missing; the cache outlives sandboxes, so make it here.
    if (spec.cacheDir) await mkdir(spec.cacheDir, { recursive: true, mode: 0o777 });
    const engine = await this.detectEngine();
    const limits = { ...this.limits, ...definedLimits(spec.limits) };
    const lifetime = Math.max(1, Math.ceil(spec.maxLifetimeSeconds ?? this.defaultMaxLifetimeSeconds));
    const sizes = tmpfsSizes(limits);
    const size = (bytes: number | undefined) => (bytes ? `,size=${bytes}` : '');
    // Docker chowns a tmpfs with uid=/gid=; podman rejects those and has its own option `U`, which chowns
    // the mount to the container's user (docs/podman.md).
    const ownedByUser = engine === 'podman' ? ',U' : `,uid=${this.owner.uid},gid=${this.owner.gid}`;
    const egress = spec.egress?.length ? await this.ensureEgress() : undefined;
    const grant = egress?.proxy.grant(id, spec.egress ?? []);
    const proxyEnv = grant ? proxyEnvironment(grant) : {};

    const container = await this.docker
      .createContainer({
        name: id,
        Image: image,
        Entrypoint: ['sh', '-c', SUPERVISOR_SCRIPT, 'ci-fixer-init'],
        Cmd: [String(lifetime), egress ? SOCKET_IN_SANDBOX : ''],
        User: this.user,
        WorkingDir: DOCKER_WORKDIR,
        Labels: { ...spec.labels },
        Env: Object.entries({
          HOME: this.home,
          TMPDIR: '/tmp',
          LANG: 'C.UTF-8',
          ...spec.env,
          // Last, so that nothing in the spec can point commands past the proxy.
          ...proxyEnv,
        }).map(([key, value]) => `${key}=${value}`),
        HostConfig: {
          Init: true,
          AutoRemove: true,
          ReadonlyRootfs: true,
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          // Never a network: egress goes through the proxy's socket, which needs none.
          NetworkMode: 'none',
          ...(limits.memoryBytes ? { Memory: limits.memoryBytes, MemorySwap: limits.memoryBytes } : {}),
          ...(limits.cpus ? { NanoCpus: Math.round(limits.cpus * 1e9) } : {}),
          ...(limits.pids ? { PidsLimit: limits.pids } : {}),
          Tmpfs: {
            // The disk limit: neither engine caps a volume or the container's layer on a common host
            // (overlay's size option needs xfs with project quotas), a tmpfs has a size.
            [DOCKER_WORKDIR]: `rw,nosuid,nodev,exec${size(sizes.workspace)}${ownedByUser}`,
            '/tmp': `rw,nosuid,nodev,exec,mode=1777${size(sizes.scratch)}`,
            [this.home]: `rw,nosuid,nodev,exec${size(sizes.scratch)}${ownedByUser}`,
          },
          Mounts: [
            ...(spec.readOnlyHostPaths ?? []).map((hostPath) => hostMount(hostPath, true, id)),
            ...(spec.cacheDir ? [hostMount(spec.cacheDir, false, id)] : []),
            ...(egress
              ? [{ Type: 'bind' as const, Source: egress.socket, Target: SOCKET_IN_SANDBOX, ReadOnly: true }]
              : []),
          ],
        },
      })
      .catch((error: unknown) => {
        grant?.revoke();
        throw new SandboxError(`cannot create container for sandbox ${id}: ${reason(error)}`, {
          sandboxId: id,
          cause: error,
        });
      });
    if (grant) this.grants.set(id, grant);
    try {
      await container.start();
    } catch (error) {
      // A failed start leaves the container in `created`.
      await this.destroy(id).catch(() => {});
      throw new SandboxError(`cannot start container for sandbox ${id} (image ${image}): ${reason(error)}`, {
        sandboxId: id,
        cause: error,
      });
    }
    if (egress) {
      await awaitRelay(container, id, image).catch(async (error: unknown) => {
        await this.destroy(id).catch(() => {});
        throw error;
      });
    }
    return new DockerSandbox(this, container, id, spec, this.owner, this.defaults, proxyEnv, [
      DOCKER_WORKDIR,
      '/tmp',
      this.home,
    ]);
  }

  /** Waits until the relay in a new sandbox listens; destroys the sandbox when it cannot. */
  /** Starts the egress proxy once, on first use. */
  private ensureEgress(): Promise<EgressSocket> {
    this.egress ??= startEgressSocket(this.egressDir).catch((error: unknown) => {
      this.egress = undefined;
      throw error;
    });
    return this.egress;
  }

  async list(selector: Record<string, string> = {}): Promise<SandboxInfo[]> {
    const containers = await this.docker.listContainers({
      all: true,
      filters: {
        label: [LABELS.owner, ...Object.entries(selector).map(([key, value]) => `${key}=${value}`)],
      },
    });
    const found: SandboxInfo[] = [];
    for (const container of containers) {
      const id = container.Names.map((name) => name.replace(/^\//, '')).find((name) => ID_PATTERN.test(name));
      if (!id || !matchesSelector(container.Labels, selector)) continue;
      found.push({ id, labels: container.Labels, createdAt: new Date(container.Created * 1000) });
    }
    return found;
  }

  async destroy(id: string): Promise<void> {
    if (!ID_PATTERN.test(id)) throw new SandboxError(`not a docker sandbox id: ${JSON.stringify(id)}`);
    this.grants.get(id)?.revoke();
    this.grants.delete(id);
    const container = this.docker.getContainer(id);
    try {
      // `v` removes the anonymous volumes the image may declare with it.
      await container.remove({ force: true, v: true });
    } catch (error) {
      const status = statusOf(error);
      if (status === 404) return;
      if (status !== 409) {
        throw new SandboxError(`cannot remove container of sandbox ${id}: ${reason(error)}`, {
          sandboxId: id,
          cause: error,
        });
      }
      // 409: a removal is already under way (AutoRemove, or another worker's reaper); wait for it.
      for (let attempt = 0; attempt < 100; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        if (!(await exists(container))) return;
      }
      throw new SandboxError(`container of sandbox ${id} is still being removed after 10 s`, {
        sandboxId: id,
      });
    }
  }

  private detectEngine(): Promise<Engine> {
    this.engine ??= this.docker.version().then(
      (version) =>
        version.Components?.some((component) => /podman/i.test(component.Name)) ? 'podman' : 'docker',
      (error: unknown) => {
        this.engine = undefined;
        throw new SandboxError(
          `cannot reach the container engine at ${describeEndpoint()}: ${reason(error)}`,
          {
            cause: error,
          },
        );
      },
    );
    return this.engine;
  }
}

/** A bind mount at the same path inside; only meaningful when the engine runs on the worker's host. */
function hostMount(hostPath: string, readOnly: boolean, sandboxId: string) {
  if (!path.isAbsolute(hostPath))
    throw new SandboxError(`host path must be absolute: ${hostPath}`, { sandboxId });
  return { Type: 'bind' as const, Source: hostPath, Target: hostPath, ReadOnly: readOnly };
}

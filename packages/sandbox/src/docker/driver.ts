import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { EGRESS_RELAY_PORT, proxyEnvironment } from '../egress/environment.ts';
import { EgressProxy, type EgressGrant } from '../egress/proxy.ts';
import { SANDBOX_DEFAULTS } from '../defaults.ts';
import { assertValidLabels, LABELS, matchesSelector } from '../labels.ts';
import {
  SandboxError,
  type ExecOptions,
  type ExecResult,
  type PreflightReport,
  type Sandbox,
  type SandboxDriver,
  type SandboxInfo,
  type SandboxLimits,
  type SandboxSpec,
} from '../types.ts';
import { firstEntry, insideWorkdir, tarOfFile, type Owner } from './archive.ts';
import { LimitProbe, RESCUE_SIGNAL, runExec } from './exec.ts';

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

type Engine = 'docker' | 'podman';

export const DOCKER_WORKDIR = '/workspace';
const ID_PATTERN = /^sbx-[0-9a-f]{16}$/;
const USER_PATTERN = /^(\d+):(\d+)$/;
/** Where a sandbox finds the proxy's socket. */
const SOCKET_IN_SANDBOX = '/run/ci-fixer/egress.sock';
const SOCKET_NAME = /^egress-(\d+)-[0-9a-f]{8}\.sock$/;

/**
 * The container's main process, under the engine's init (which reaps orphans): it sleeps out the
 * sandbox's lifetime, then ends, and the container with it. With egress ($2, the proxy's socket inside),
 * socat relays 127.0.0.1:RELAY_PORT, in the container's own (network none) namespace, to that socket.
 *
 * On RESCUE_SIGNAL (forwarded by the init) it kills every other process of the sandbox with one kill(-1),
 * which spares only itself and the init and which a fork bomb cannot outrun, then restarts the relay:
 * the driver's last resort when the pids limit leaves no room for the exec that would end one command.
 * It forks nothing until the kill is done; a shell runs a trap only between commands, so the lifetime
 * sleep runs in the background and the shell waits in `wait`, which a signal interrupts.
 */
const SUPERVISOR_SCRIPT = `
relay() { [ -z "$socket" ] || socat TCP-LISTEN:${EGRESS_RELAY_PORT},bind=127.0.0.1,reuseaddr,fork "UNIX-CONNECT:$socket" & }
rescue() {
  kill -KILL -1 2> /dev/null
  # The killed hold their pids until the init has reaped them, and a shell that cannot fork exits (and
  # the sandbox with it): wait, with builtins, until only the init and this shell's own children are left.
  i=0
  while [ $i -lt 100000 ]; do
    i=$((i + 1))
    busy=
    for dir in /proc/[0-9]*; do
      case "\${dir#/proc/}" in 1 | $$) continue ;; esac
      read -r stat 2> /dev/null < "$dir/stat" || continue
      set -- \${stat##*) }
      [ "$2" = $$ ] || { busy=1; break; }
    done
    [ -z "$busy" ] && break
  done
  relay
}
socket=$2
end=$(($(date +%s) + $1))
trap rescue ${RESCUE_SIGNAL.replace(/^SIG/, '')}
relay
while now=$(date +%s) && [ "$now" -lt "$end" ]; do
  sleep $((end - now)) &
  wait $!
done
`;

/** Exits 0 once the relay listens, 3 when the image has no socat, 4 when it never starts listening. */
const RELAY_CHECK_SCRIPT = `
command -v socat >/dev/null 2>&1 || exit 3
listening="0100007F:${EGRESS_RELAY_PORT.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A"
i=0
while [ $i -lt 200 ]; do
  grep -q "$listening" /proc/net/tcp 2>/dev/null && exit 0
  i=$((i + 1))
  sleep 0.05
done
exit 4
`;

interface Egress {
  proxy: EgressProxy;
  socket: string;
}

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
  private egress: Promise<Egress> | undefined;
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
    await this.ensureImage(image);
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
    if (egress) await this.awaitRelay(container, id, image);
    return new DockerSandbox(this, container, id, spec, this.owner, this.defaults, proxyEnv, [
      DOCKER_WORKDIR,
      '/tmp',
      this.home,
    ]);
  }

  /** Waits until the relay in a new sandbox listens; destroys the sandbox when it cannot. */
  private async awaitRelay(container: Docker.Container, id: string, image: string): Promise<void> {
    let result: ExecResult;
    try {
      result = await runExec(
        { container, cwd: '/', defaults: { timeoutMs: 30_000, maxOutputBytes: 65_536 } },
        ['sh', '-c', RELAY_CHECK_SCRIPT],
        {},
        () => () => {},
      );
    } catch (error) {
      await this.destroy(id).catch(() => {});
      throw new SandboxError(`cannot check the egress relay of sandbox ${id}: ${reason(error)}`, {
        sandboxId: id,
        cause: error,
      });
    }
    if (result.exitCode === 0) return;
    await this.destroy(id).catch(() => {});
    if (result.exitCode === 3) {
      throw new SandboxError(
        `the image ${image} has no socat: it relays the sandbox's proxy traffic; add it, as Dockerfile.sandbox does`,
        { sandboxId: id },
      );
    }
    throw new SandboxError(
      `the egress relay of sandbox ${id} did not start listening on 127.0.0.1:${EGRESS_RELAY_PORT} ` +
        `(exit ${result.exitCode}${result.stderr ? `: ${result.stderr.trim()}` : ''})`,
      { sandboxId: id },
    );
  }

  /**
   * Starts the egress proxy once, on a socket of its own in egressDir (several drivers may share the
   * directory); sockets that dead processes left are removed first.
   */
  private ensureEgress(): Promise<Egress> {
    this.egress ??= (async () => {
      await mkdir(this.egressDir, { recursive: true, mode: 0o711 });
      for (const name of await readdir(this.egressDir)) {
        const owner = SOCKET_NAME.exec(name)?.[1];
        if (owner && !isAlive(Number(owner))) await rm(path.join(this.egressDir, name), { force: true });
      }
      const socket = path.join(
        this.egressDir,
        `egress-${process.pid}-${randomBytes(4).toString('hex')}.sock`,
      );
      const proxy = await EgressProxy.start({ listen: { path: socket } });
      // The sandbox user (not this process's) connects; the per-sandbox token, not the mode, is the lock.
      await chmod(socket, 0o666);
      return { proxy, socket };
    })().catch((error: unknown) => {
      this.egress = undefined;
      throw new SandboxError(
        `cannot start the egress proxy in ${this.egressDir}: ${(error as Error).message}; set SANDBOX_EGRESS_DIR to a writable directory`,
        { cause: error },
      );
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

  private async ensureImage(image: string): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
      return;
    } catch (error) {
      if (statusOf(error) !== 404) {
        throw new SandboxError(`cannot inspect image ${image} at ${describeEndpoint()}: ${reason(error)}`, {
          cause: error,
        });
      }
    }
    // Pulls report failures inside a 200 stream (podman does so for any name it cannot resolve).
    try {
      const stream = (await this.docker.pull(image)) as Readable;
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (error: Error | null, events: { error?: string }[]) => {
          const failed = error?.message ?? events.find((event) => event.error)?.error;
          if (failed) reject(new Error(failed));
          else resolve();
        });
      });
    } catch (error) {
      throw new SandboxError(
        `image ${image} is not on the engine and cannot be pulled (${reason(error)}); ` +
          'build it (scripts/build-images) or set SANDBOX_IMAGE',
        { cause: error },
      );
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

class DockerSandbox implements Sandbox {
  readonly id: string;
  readonly cacheDir: string | undefined;
  readonly workdir = DOCKER_WORKDIR;
  readonly labels: Readonly<Record<string, string>>;
  private readonly driver: DockerDriver;
  private readonly container: Docker.Container;
  private readonly owner: Owner;
  private readonly defaults: { timeoutMs: number; maxOutputBytes: number };
  private readonly running = new Set<() => void>();
  private readonly proxyEnv: Record<string, string>;
  private readonly limits: LimitProbe;
  private destroyed = false;

  constructor(
    driver: DockerDriver,
    container: Docker.Container,
    id: string,
    spec: SandboxSpec,
    owner: Owner,
    defaults: { timeoutMs: number; maxOutputBytes: number },
    proxyEnv: Record<string, string>,
    /** Its tmpfs mounts, which a filler may fill. */
    filesystems: readonly string[],
  ) {
    this.proxyEnv = proxyEnv;
    this.driver = driver;
    this.container = container;
    this.id = id;
    this.cacheDir = spec.cacheDir;
    this.labels = { ...spec.labels };
    this.owner = owner;
    this.defaults = defaults;
    this.limits = new LimitProbe(container, filesystems);
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.assertUsable();
    if (argv.length === 0) throw new SandboxError('exec needs a command', { sandboxId: this.id });
    const cwd = path.posix.resolve(this.workdir, options.cwd ?? '.');
    try {
      return await runExec(
        {
          container: this.container,
          cwd,
          defaults: this.defaults,
          limits: this.limits,
          rescue: () => this.rescue(),
        },
        argv,
        // The proxy variables last, so that a command's own env cannot point it past the proxy.
        { ...options, env: { ...options.env, ...this.proxyEnv } },
        (stop) => {
          this.running.add(stop);
          return () => this.running.delete(stop);
        },
      );
    } catch (error) {
      throw this.failure(`cannot run ${argv[0]}`, error);
    }
  }

  async writeFile(target: string, data: Uint8Array | string): Promise<void> {
    this.assertUsable();
    const file = this.resolve(target);
    if (file === this.workdir) throw new SandboxError(`cannot write ${target}: it is the workspace itself`);
    const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
    const parent = path.posix.dirname(file);
    try {
      // Usually the parent exists: unpack there, leaving existing directories as they are.
      await this.container.putArchive(await tarOfFile(path.posix.basename(file), bytes, this.owner, false), {
        path: parent,
      });
    } catch (error) {
      if (statusOf(error) !== 404 || parent === this.workdir)
        throw this.failure(`cannot write ${target}`, error);
      try {
        const relative = path.posix.relative(this.workdir, file);
        await this.container.putArchive(await tarOfFile(relative, bytes, this.owner, true), {
          path: this.workdir,
        });
      } catch (retryError) {
        throw this.failure(`cannot write ${target}`, retryError);
      }
    }
  }

  async readFile(target: string): Promise<Buffer> {
    this.assertUsable();
    let file = this.resolve(target);
    // The archive API answers a symlink with the link itself; follow it while it stays in the workspace.
    for (let hops = 0; hops < 8; hops++) {
      let entry;
      try {
        entry = await firstEntry((await this.container.getArchive({ path: file })) as Readable);
      } catch (error) {
        if (statusOf(error) === 404) {
          throw new SandboxError(`cannot read ${target}: no such file in sandbox ${this.id}`, {
            sandboxId: this.id,
            cause: error,
          });
        }
        throw this.failure(`cannot read ${target}`, error);
      }
      if (entry.type === 'file') return entry.data;
      if (entry.type === 'other') {
        throw new SandboxError(`cannot read ${target}: it is a ${entry.kind}, not a file`, {
          sandboxId: this.id,
        });
      }
      const next = insideWorkdir(this.workdir, path.posix.resolve(path.posix.dirname(file), entry.target));
      if (!next) {
        throw new SandboxError(`path ${target} leads outside the sandbox workspace`, { sandboxId: this.id });
      }
      file = next;
    }
    throw new SandboxError(`cannot read ${target}: too many levels of symbolic links`, {
      sandboxId: this.id,
    });
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    // Removing the container kills every command in it; the stops only mark them as aborted.
    for (const stop of this.running) stop();
    await this.driver.destroy(this.id);
  }

  /**
   * Ends every command of the sandbox through its main process (see SUPERVISOR_SCRIPT), for when no exec
   * can start to end one of them. A container already gone has nothing left to end.
   */
  private async rescue(): Promise<void> {
    await this.container.kill({ signal: RESCUE_SIGNAL }).catch(() => {});
  }

  private assertUsable(): void {
    if (this.destroyed) throw new SandboxError('sandbox is destroyed', { sandboxId: this.id });
  }

  /** A path inside the workspace, given relative to it or as the absolute path the sandbox sees. */
  private resolve(target: string): string {
    const resolved = insideWorkdir(this.workdir, target);
    if (!resolved) {
      throw new SandboxError(`path ${target} is outside the sandbox workspace`, { sandboxId: this.id });
    }
    return resolved;
  }

  private failure(what: string, error: unknown): SandboxError {
    if (error instanceof SandboxError) return error;
    const status = statusOf(error);
    const detail =
      status === 404 || status === 409
        ? `its container is gone or stopped (destroyed, or past its maxLifetimeSeconds): ${reason(error)}`
        : reason(error);
    return new SandboxError(`${what} in sandbox ${this.id}: ${detail}`, { sandboxId: this.id, cause: error });
  }
}

/** A bind mount at the same path inside; only meaningful when the engine runs on the worker's host. */
function hostMount(hostPath: string, readOnly: boolean, sandboxId: string) {
  if (!path.isAbsolute(hostPath))
    throw new SandboxError(`host path must be absolute: ${hostPath}`, { sandboxId });
  return { Type: 'bind' as const, Source: hostPath, Target: hostPath, ReadOnly: readOnly };
}

async function exists(container: Docker.Container): Promise<boolean> {
  try {
    await container.inspect();
    return true;
  } catch (error) {
    if (statusOf(error) === 404) return false;
    throw error;
  }
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number } | undefined)?.statusCode;
}

/** The engine's own message when it sent one (dockerode puts the JSON body in `json`), else the error's. */
function reason(error: unknown): string {
  const json = (error as { json?: { message?: string } } | undefined)?.json;
  return json?.message ?? (error as Error)?.message ?? String(error);
}

/**
 * The sizes of the sandbox's tmpfs mounts. Their pages are charged to the container's memory cgroup and,
 * without swap, cannot be reclaimed: a memory limit filled with files leaves every later command to the
 * OOM killer. So together they stay below it, leaving a quarter for processes: the workspace gets
 * `diskBytes` up to half the memory limit, /tmp and $HOME an eighth each. A filler then meets a full
 * filesystem (reported as `limit: 'disk'`) and the sandbox goes on working.
 */
function tmpfsSizes(limits: SandboxLimits): { workspace?: number; scratch?: number } {
  const memory = limits.memoryBytes;
  if (!memory) return limits.diskBytes ? { workspace: limits.diskBytes } : {};
  const half = Math.floor(memory / 2);
  return {
    workspace: limits.diskBytes ? Math.min(limits.diskBytes, half) : half,
    scratch: Math.floor(memory / 8),
  };
}

function describeLimits(limits: SandboxLimits): string {
  const { workspace } = tmpfsSizes(limits);
  const parts = [
    limits.cpus ? `${limits.cpus} CPUs` : undefined,
    limits.memoryBytes ? `${Math.round(limits.memoryBytes / 1_048_576)} MiB memory` : undefined,
    limits.pids ? `${limits.pids} processes` : undefined,
    workspace ? `a ${Math.round(workspace / 1_048_576)} MiB workspace (tmpfs, in memory)` : undefined,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'none';
}

/** The limits a spec gives, without the keys it names but leaves undefined (those keep the default). */
function definedLimits(limits: SandboxLimits | undefined): SandboxLimits {
  return Object.fromEntries(Object.entries(limits ?? {}).filter(([, value]) => value !== undefined));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describeEndpoint(): string {
  return process.env.DOCKER_HOST ? `DOCKER_HOST=${process.env.DOCKER_HOST}` : '/var/run/docker.sock';
}

import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertValidLabels, matchesSelector } from '../labels.ts';
import {
  SandboxError,
  type PreflightReport,
  type Sandbox,
  type SandboxDriver,
  type SandboxInfo,
  type SandboxLimits,
  type SandboxSpec,
} from '../types.ts';
import { defaultLocalRoot } from './root.ts';
import { SANDBOX_DEFAULTS } from '@ci-fixer/config';
import { EgressProxy } from '../egress/proxy.ts';
import { detectCgroups, prepareCgroups, removeEmptyParents, SandboxCgroup } from './cgroup.ts';
import { checkIsolation, type LocalIsolation } from './isolation.ts';
import { isAlive, killRecordedGroups, processStartTime } from './process-group.ts';
import { LocalSandbox, type Limits } from './sandbox.ts';

export interface LocalDriverOptions {
  /** Directory that holds one subdirectory per sandbox (and the egress proxy's socket). */
  root?: string;
  /** `bwrap` (the default) or, asked for by name, `none`: plain processes with no isolation at all. */
  isolation?: LocalIsolation;
  /** Limits for sandboxes whose spec gives none. */
  limits?: Pick<SandboxLimits, 'memoryBytes' | 'pids' | 'diskBytes'>;
  defaultTimeoutMs?: number;
  defaultMaxOutputBytes?: number;
}

/** What preflight set up: the proxy (bubblewrap only) and the cgroup layout, or why there is none. */
interface Facilities {
  proxy: EgressProxy | undefined;
  cgroups: ReturnType<typeof detectCgroups>;
  report: PreflightReport;
}

/** What is stored beside each sandbox, so that another process can list it and reap it. */
interface SandboxMeta {
  id: string;
  labels: Record<string, string>;
  createdAt: string;
  hostname: string;
  ownerPid: number;
  ownerStartTime: string | undefined;
}

const ID_PATTERN = /^sbx-[0-9a-f]{16}$/;
const META_FILE = 'sandbox.json';
/** Written first by destroy: from then on the sandbox is gone for list(), while its processes are killed. */
const DESTROYING_FILE = 'destroying';

/**
 * Sandboxes as directories on this host. Each command runs in its own process group, under bubblewrap
 * when it works here: the host read-only, a private /tmp, no capabilities and no credentials.
 */
export class LocalDriver implements SandboxDriver {
  readonly name = 'local' as const;
  readonly capabilities = { hostPaths: true, cacheDir: true };
  readonly root: string;
  readonly isolation: LocalIsolation;
  readonly limits: Limits;
  private readonly defaultTimeoutMs: number;
  private readonly defaultMaxOutputBytes: number;
  private facilities: Promise<Facilities> | undefined;

  constructor(options: LocalDriverOptions = {}) {
    this.root = path.resolve(options.root ?? defaultLocalRoot());
    this.isolation = options.isolation ?? 'bwrap';
    const { limits } = SANDBOX_DEFAULTS;
    this.limits = {
      memoryBytes: options.limits?.memoryBytes ?? limits.memoryMb * 1_048_576,
      pids: options.limits?.pids ?? limits.pids,
      diskBytes: options.limits?.diskBytes ?? limits.diskMb * 1_048_576,
    };
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? SANDBOX_DEFAULTS.commandTimeoutSeconds * 1000;
    this.defaultMaxOutputBytes = options.defaultMaxOutputBytes ?? SANDBOX_DEFAULTS.maxOutputBytes;
  }

  /**
   * Fails closed when bubblewrap or the egress relay cannot work here (unless plain processes were asked
   * for), starts the egress proxy, prepares cgroups for limits, and clears what dead owners left.
   */
  preflight(): Promise<PreflightReport> {
    return this.ready().then((facilities) => facilities.report);
  }

  async close(): Promise<void> {
    const facilities = await this.facilities?.catch(() => undefined);
    this.facilities = undefined;
    await facilities?.proxy?.close();
    if (facilities && !('unavailable' in facilities.cgroups)) await removeEmptyParents(facilities.cgroups);
  }

  private ready(): Promise<Facilities> {
    this.facilities ??= this.setUp().catch((error: unknown) => {
      this.facilities = undefined;
      throw error;
    });
    return this.facilities;
  }

  private async setUp(): Promise<Facilities> {
    checkIsolation(this.isolation);
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    const cleared = await this.sweepDeadOwners();
    const warnings: string[] = [];
    let cgroups = detectCgroups(this.cgroupNamespace());
    if (!('unavailable' in cgroups)) {
      const layout = cgroups;
      cgroups = await prepareCgroups(layout).then(
        () => layout,
        (error: unknown) => ({ unavailable: `cannot create cgroups (${(error as Error).message})` }),
      );
    }
    if ('unavailable' in cgroups) {
      warnings.push(
        `${cgroups.unavailable}: memory and process limits fall back to per-process rlimits (RLIMIT_AS, RLIMIT_NPROC), and processes that leave their session are found only by bubblewrap's pid namespace`,
      );
    }
    let proxy: EgressProxy | undefined;
    if (this.isolation === 'bwrap') {
      const socket = path.join(this.root, 'egress.sock');
      await fs.rm(socket, { force: true });
      proxy = await EgressProxy.start({ listen: { path: socket } });
    } else {
      warnings.push(
        'SANDBOX_ISOLATION=none: sandboxes are plain processes that can read this host, reach its network and every service on it; use it only for repositories you trust',
      );
    }
    const limits = `limits: ${this.limits.pids} processes, ${Math.round(this.limits.memoryBytes / 1_048_576)} MiB memory${'unavailable' in cgroups ? ' (rlimits)' : ' (cgroups)'}, files up to ${Math.round(this.limits.diskBytes / 1_048_576)} MiB`;
    const isolation =
      this.isolation === 'bwrap'
        ? `bubblewrap: read-only host, own namespaces, no network but the egress proxy; ${limits}`
        : `none: plain processes; ${limits}`;
    return { proxy, cgroups, report: { isolation, warnings, cleared } };
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    assertValidLabels(spec.labels);
    const facilities = await this.ready();
    const id = `sbx-${randomBytes(8).toString('hex')}`;
    const dir = path.join(this.root, id);
    for (const sub of ['workspace', 'home', 'tmp', 'pids'])
      await fs.mkdir(path.join(dir, sub), { recursive: true });
    if (spec.cacheDir) await fs.mkdir(spec.cacheDir, { recursive: true, mode: 0o700 });
    const meta: SandboxMeta = {
      id,
      labels: { ...spec.labels },
      createdAt: new Date().toISOString(),
      hostname: os.hostname(),
      ownerPid: process.pid,
      ownerStartTime: processStartTime(process.pid),
    };
    // Written last and renamed into place, so a sandbox is listed only once it is whole.
    await fs.writeFile(path.join(dir, `${META_FILE}.tmp`), JSON.stringify(meta));
    await fs.rename(path.join(dir, `${META_FILE}.tmp`), path.join(dir, META_FILE));
    const limits = { ...this.limits, ...definedLimits(spec.limits) };
    const cgroup =
      'unavailable' in facilities.cgroups
        ? undefined
        : await SandboxCgroup.create(facilities.cgroups, id, limits);
    const grant = spec.egress?.length ? facilities.proxy?.grant(id, spec.egress) : undefined;
    const sandbox = new LocalSandbox(this, dir, meta, spec, {
      timeoutMs: this.defaultTimeoutMs,
      maxOutputBytes: this.defaultMaxOutputBytes,
      limits,
      cgroup,
      egress: grant ? { grant, socket: path.join(this.root, 'egress.sock') } : undefined,
    });
    if (spec.maxLifetimeSeconds) sandbox.expireAfter(spec.maxLifetimeSeconds * 1000);
    return sandbox;
  }

  async list(selector: Record<string, string> = {}): Promise<SandboxInfo[]> {
    const found: SandboxInfo[] = [];
    for (const meta of await this.readAllMeta()) {
      if (meta.destroying) continue;
      if (matchesSelector(meta.labels, selector)) {
        found.push({ id: meta.id, labels: meta.labels, createdAt: new Date(meta.createdAt) });
      }
    }
    return found;
  }

  async destroy(id: string): Promise<void> {
    if (!ID_PATTERN.test(id)) throw new SandboxError(`not a local sandbox id: ${JSON.stringify(id)}`);
    const dir = path.join(this.root, id);
    // Its owner asks the driver whether the sandbox still exists to tell a kill from outside from the
    // repository's own failure; it must see the sandbox gone before any of its processes dies.
    await fs.writeFile(path.join(dir, DESTROYING_FILE), '').catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await killRecordedGroups(path.join(dir, 'pids'));
    // A reaper (or the sweep in preflight, before set-up is done) knows the sandbox by id alone; its
    // cgroups are named after it.
    const cgroups = detectCgroups(this.cgroupNamespace());
    if (!('unavailable' in cgroups)) await SandboxCgroup.existing(cgroups, id).destroy();
    // The owner may be destroying it at the same time, or still writing to it until its next command fails.
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  }

  /**
   * Destroys sandboxes whose owning process on this host has exited. Needs no Redis, so the CLI can run it
   * too; the worker's heartbeat reaper covers owners on other hosts.
   */
  async sweepDeadOwners(): Promise<string[]> {
    const swept: string[] = [];
    for (const meta of await this.readAllMeta()) {
      if (meta.hostname !== os.hostname() || isAlive(meta.ownerPid, meta.ownerStartTime)) continue;
      await this.destroy(meta.id);
      swept.push(meta.id);
    }
    return swept;
  }

  /** The cgroup folder of this root's sandboxes: one per root, so deployments never share one. */
  private cgroupNamespace(): string {
    return `ci-fixer-${createHash('sha256').update(this.root).digest('hex').slice(0, 12)}`;
  }

  /** Every sandbox's record; the sweep sees those whose destroy began, so a destroy cut short is finished. */
  private async readAllMeta(): Promise<(SandboxMeta & { destroying: boolean })[]> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const metas: (SandboxMeta & { destroying: boolean })[] = [];
    for (const entry of entries.filter((name) => ID_PATTERN.test(name))) {
      const dir = path.join(this.root, entry);
      try {
        const meta = JSON.parse(await fs.readFile(path.join(dir, META_FILE), 'utf8')) as SandboxMeta;
        const destroying = await fs.access(path.join(dir, DESTROYING_FILE)).then(
          () => true,
          () => false,
        );
        metas.push({ ...meta, destroying });
      } catch {
        // Being created or destroyed right now.
      }
    }
    return metas;
  }
}

function definedLimits(limits: SandboxLimits | undefined): Partial<Limits> {
  const defined: Partial<Limits> = {};
  if (limits?.memoryBytes) defined.memoryBytes = limits.memoryBytes;
  if (limits?.pids) defined.pids = limits.pids;
  if (limits?.diskBytes) defined.diskBytes = limits.diskBytes;
  return defined;
}

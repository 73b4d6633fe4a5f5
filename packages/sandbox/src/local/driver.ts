import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertValidLabels, matchesSelector } from '../labels.ts';
import { collectInto, ExecDeadline } from '../exec-control.ts';
import { OutputBuffer } from '../output-buffer.ts';
import {
  SandboxError,
  type ExecOptions,
  type ExecResult,
  type Sandbox,
  type SandboxDriver,
  type SandboxInfo,
  type SandboxSpec,
} from '../types.ts';
import { defaultLocalRoot } from './root.ts';
import { bwrapArgs, resolveIsolation, type LocalIsolation } from './isolation.ts';
import { isAlive, killGroup, processStartTime } from './process-group.ts';

export interface LocalDriverOptions {
  /** Directory that holds one subdirectory per sandbox. */
  root?: string;
  isolation?: 'auto' | LocalIsolation;
  defaultTimeoutMs?: number;
  defaultMaxOutputBytes?: number;
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

/**
 * Sandboxes as directories on this host. Each command runs in its own process group, under bubblewrap
 * when it works here: the host read-only, a private /tmp, no capabilities and no credentials.
 */
export class LocalDriver implements SandboxDriver {
  readonly name = 'local' as const;
  readonly capabilities = { hostPaths: true, cacheDir: true };
  readonly root: string;
  readonly isolation: LocalIsolation;
  private readonly defaultTimeoutMs: number;
  private readonly defaultMaxOutputBytes: number;

  constructor(options: LocalDriverOptions = {}) {
    this.root = path.resolve(options.root ?? defaultLocalRoot());
    this.isolation = resolveIsolation(options.isolation ?? 'auto');
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 15 * 60_000;
    this.defaultMaxOutputBytes = options.defaultMaxOutputBytes ?? 1_048_576;
  }

  /** Bubblewrap was checked when the driver was made; what is left is the litter of dead owners here. */
  async preflight(): Promise<void> {
    await this.sweepDeadOwners();
  }

  async close(): Promise<void> {}

  async create(spec: SandboxSpec): Promise<Sandbox> {
    assertValidLabels(spec.labels);
    const id = `sbx-${randomBytes(8).toString('hex')}`;
    const dir = path.join(this.root, id);
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
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
    const sandbox = new LocalSandbox(this, dir, meta, spec, {
      timeoutMs: this.defaultTimeoutMs,
      maxOutputBytes: this.defaultMaxOutputBytes,
    });
    if (spec.maxLifetimeSeconds) sandbox.expireAfter(spec.maxLifetimeSeconds * 1000);
    return sandbox;
  }

  async list(selector: Record<string, string> = {}): Promise<SandboxInfo[]> {
    const found: SandboxInfo[] = [];
    for (const meta of await this.readAllMeta()) {
      if (matchesSelector(meta.labels, selector)) {
        found.push({ id: meta.id, labels: meta.labels, createdAt: new Date(meta.createdAt) });
      }
    }
    return found;
  }

  async destroy(id: string): Promise<void> {
    if (!ID_PATTERN.test(id)) throw new SandboxError(`not a local sandbox id: ${JSON.stringify(id)}`);
    const dir = path.join(this.root, id);
    await killRecordedGroups(path.join(dir, 'pids'));
    await fs.rm(dir, { recursive: true, force: true });
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

  private async readAllMeta(): Promise<SandboxMeta[]> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const metas: SandboxMeta[] = [];
    for (const entry of entries.filter((name) => ID_PATTERN.test(name))) {
      try {
        metas.push(
          JSON.parse(await fs.readFile(path.join(this.root, entry, META_FILE), 'utf8')) as SandboxMeta,
        );
      } catch {
        // Being created or destroyed right now.
      }
    }
    return metas;
  }
}

class LocalSandbox implements Sandbox {
  readonly id: string;
  readonly cacheDir: string | undefined;
  readonly workdir: string;
  readonly labels: Readonly<Record<string, string>>;
  private readonly driver: LocalDriver;
  private readonly dir: string;
  private readonly spec: SandboxSpec;
  private readonly defaults: { timeoutMs: number; maxOutputBytes: number };
  private readonly running = new Set<() => void>();
  private destroyed = false;
  private expiry: NodeJS.Timeout | undefined;

  constructor(
    driver: LocalDriver,
    dir: string,
    meta: SandboxMeta,
    spec: SandboxSpec,
    defaults: { timeoutMs: number; maxOutputBytes: number },
  ) {
    this.driver = driver;
    this.spec = spec;
    this.defaults = defaults;
    this.id = meta.id;
    this.cacheDir = spec.cacheDir;
    this.labels = meta.labels;
    this.dir = dir;
    this.workdir = path.join(dir, 'workspace');
  }

  expireAfter(ms: number): void {
    this.expiry = setTimeout(() => void this.destroy(), ms);
    this.expiry.unref();
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    if (this.destroyed) throw new SandboxError('sandbox is destroyed', { sandboxId: this.id });
    if (argv.length === 0) throw new SandboxError('exec needs a command', { sandboxId: this.id });
    const cwd = this.resolve(options.cwd ?? '.');
    const home = path.join(this.dir, 'home');
    const env = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: home,
      LANG: 'C.UTF-8',
      TMPDIR: this.driver.isolation === 'bwrap' ? '/tmp' : path.join(this.dir, 'tmp'),
      ...this.spec.env,
      ...options.env,
    };
    const [file, args] =
      this.driver.isolation === 'bwrap'
        ? [
            'bwrap',
            bwrapArgs(
              {
                writable: [this.workdir, home, ...(this.spec.cacheDir ? [this.spec.cacheDir] : [])],
                readOnly: this.spec.readOnlyHostPaths ?? [],
                cwd,
                env,
                network: (this.spec.egress?.length ?? 0) > 0,
              },
              argv,
            ),
          ]
        : [argv[0]!, argv.slice(1)];

    const started = performance.now();
    const stdout = new OutputBuffer(options.maxOutputBytes ?? this.defaults.maxOutputBytes);
    const stderr = new OutputBuffer(options.maxOutputBytes ?? this.defaults.maxOutputBytes);
    // A process group of its own, so that a timeout reaches everything the command started.
    const child = spawn(file, args, {
      cwd: this.driver.isolation === 'bwrap' ? undefined : cwd,
      env: this.driver.isolation === 'bwrap' ? {} : env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Everything that listens goes on before the first await: a quick command may finish, output and
    // all, in between.
    const exited = new Promise<number>((resolve) => {
      child.once('error', (error: NodeJS.ErrnoException) => {
        stderr.push(Buffer.from(`${argv[0]}: ${error.message}\n`));
        resolve(error.code === 'ENOENT' ? 127 : 126);
      });
      child.once('close', (code, signal) => {
        resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0));
      });
    });
    child.stdout.on('data', collectInto(stdout, options.onStdout));
    child.stderr.on('data', collectInto(stderr, options.onStderr));

    const pid = child.pid;
    const kill = () => {
      if (pid !== undefined) killGroup(pid);
    };
    const deadline = new ExecDeadline(options.timeoutMs ?? this.defaults.timeoutMs, options.signal, kill);
    const stop = () => deadline.abort();
    this.running.add(stop);

    // Recorded so that a reaper in another process can kill the group if this process dies.
    const pidFile = pid === undefined ? undefined : path.join(this.dir, 'pids', String(pid));
    if (pid !== undefined && pidFile)
      await fs.writeFile(pidFile, processStartTime(pid) ?? '').catch(() => {});
    const exitCode = await exited;
    deadline.dispose();
    this.running.delete(stop);
    // Without bubblewrap's pid namespace, background processes the command left behind share its group.
    if (this.driver.isolation === 'none') kill();
    if (pidFile) await fs.rm(pidFile, { force: true });
    return deadline.result(exitCode, stdout, stderr, started);
  }

  async writeFile(target: string, data: Uint8Array | string): Promise<void> {
    const file = this.resolve(target);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await this.assertInside(path.dirname(file), target);
    // O_NOFOLLOW: a symlink planted by the repository must not redirect the write onto the host.
    const handle = await fs
      .open(
        file,
        fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW,
        0o644,
      )
      .catch((error: unknown) => {
        throw new SandboxError(`cannot write ${target}: ${(error as Error).message}`, {
          sandboxId: this.id,
          cause: error,
        });
      });
    try {
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
  }

  async readFile(target: string): Promise<Buffer> {
    const file = this.resolve(target);
    await this.assertInside(file, target);
    return fs.readFile(file).catch((error: unknown) => {
      throw new SandboxError(`cannot read ${target}: ${(error as Error).message}`, {
        sandboxId: this.id,
        cause: error,
      });
    });
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    clearTimeout(this.expiry);
    for (const stop of this.running) stop();
    await this.driver.destroy(this.id);
  }

  /** A path inside the workspace, given relative to it or as the same absolute path the sandbox sees. */
  private resolve(target: string): string {
    const resolved = path.resolve(this.workdir, target);
    if (resolved !== this.workdir && !resolved.startsWith(this.workdir + path.sep)) {
      throw new SandboxError(`path ${target} is outside the sandbox workspace`, { sandboxId: this.id });
    }
    return resolved;
  }

  private async assertInside(file: string, shownAs: string): Promise<void> {
    const real = await fs.realpath(file).catch(() => file);
    const root = await fs.realpath(this.workdir);
    if (real !== root && !real.startsWith(root + path.sep)) {
      throw new SandboxError(`path ${shownAs} leads outside the sandbox workspace`, { sandboxId: this.id });
    }
  }
}

async function killRecordedGroups(pidDir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await fs.readdir(pidDir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const startTime = await fs.readFile(path.join(pidDir, entry), 'utf8').catch(() => '');
    killGroup(Number(entry), startTime || undefined);
  }
}

import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import type { EgressGrant } from '../egress/proxy.ts';
import {
  SandboxError,
  type ExecOptions,
  type ExecResult,
  type Sandbox,
  type SandboxLimits,
  type SandboxSpec,
} from '../types.ts';
import type { SandboxCgroup } from './cgroup.ts';
import { runLocalCommand } from './exec.ts';
import type { LocalIsolation } from './isolation.ts';

export type Limits = Required<Pick<SandboxLimits, 'memoryBytes' | 'pids' | 'diskBytes'>>;

/** What a sandbox needs of its driver: how commands are isolated, and removing it. */
export interface SandboxHost {
  readonly isolation: LocalIsolation;
  readonly root: string;
  destroy(id: string): Promise<void>;
}

export interface SandboxSettings {
  timeoutMs: number;
  maxOutputBytes: number;
  limits: Limits;
  cgroup: SandboxCgroup | undefined;
  egress: { grant: EgressGrant; socket: string } | undefined;
}

export class LocalSandbox implements Sandbox {
  readonly id: string;
  readonly cacheDir: string | undefined;
  readonly workdir: string;
  readonly labels: Readonly<Record<string, string>>;
  private readonly driver: SandboxHost;
  private readonly dir: string;
  private readonly spec: SandboxSpec;
  private readonly settings: SandboxSettings;
  private readonly running = new Set<() => void>();
  private destroyed = false;
  private expiry: NodeJS.Timeout | undefined;

  constructor(
    driver: SandboxHost,
    dir: string,
    meta: { id: string; labels: Record<string, string> },
    spec: SandboxSpec,
    settings: SandboxSettings,
  ) {
    this.driver = driver;
    this.spec = spec;
    this.settings = settings;
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
    const { timeoutMs, maxOutputBytes, limits, cgroup, egress } = this.settings;
    return runLocalCommand(
      {
        isolation: this.driver.isolation,
        root: this.driver.root,
        dir: this.dir,
        workdir: this.workdir,
        env: this.spec.env ?? {},
        cacheDir: this.spec.cacheDir,
        readOnlyHostPaths: this.spec.readOnlyHostPaths ?? [],
        limits,
        cgroup,
        egress,
        defaults: { timeoutMs, maxOutputBytes },
        track: (stop) => {
          this.running.add(stop);
          return () => this.running.delete(stop);
        },
      },
      argv,
      this.resolve(options.cwd ?? '.'),
      options,
    );
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
    this.settings.egress?.grant.revoke();
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

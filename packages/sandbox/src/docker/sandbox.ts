import path from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { SandboxError, type ExecOptions, type ExecResult, type Sandbox, type SandboxSpec } from '../types.ts';
import { firstEntry, insideWorkdir, tarOfFile, type Owner } from './archive.ts';
import { reason, statusOf } from './engine.ts';
import { LimitProbe, RESCUE_SIGNAL, runExec } from './exec.ts';

export const DOCKER_WORKDIR = '/workspace';

/** The part of the driver a sandbox needs: removing it. */
interface Destroyer {
  destroy(id: string): Promise<void>;
}

export class DockerSandbox implements Sandbox {
  readonly id: string;
  readonly cacheDir: string | undefined;
  readonly workdir = DOCKER_WORKDIR;
  readonly labels: Readonly<Record<string, string>>;
  private readonly driver: Destroyer;
  private readonly container: Docker.Container;
  private readonly owner: Owner;
  private readonly defaults: { timeoutMs: number; maxOutputBytes: number };
  private readonly running = new Set<() => void>();
  private readonly proxyEnv: Record<string, string>;
  private readonly limits: LimitProbe;
  private destroyed = false;

  constructor(
    driver: Destroyer,
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

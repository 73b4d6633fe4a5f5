import { PlatformError, type PermanentError } from '@ci-fixer/jobs';
import type { ExecOptions, ExecResult, Sandbox, SandboxDriver } from '@ci-fixer/sandbox';
import { fetchRefusal } from './repo-access.ts';

/**
 * The sandbox as the pipeline sees it, watched from outside: it remembers the last `git fetch`, so that a
 * clone that failed because the repository is missing can be told from one the platform broke.
 */
export class WatchedSandbox implements Sandbox {
  private readonly inner: Sandbox;
  private lastFetch: ExecResult | undefined;

  constructor(inner: Sandbox) {
    this.inner = inner;
  }

  get id() {
    return this.inner.id;
  }
  get cacheDir() {
    return this.inner.cacheDir;
  }
  get workdir() {
    return this.inner.workdir;
  }
  get labels() {
    return this.inner.labels;
  }

  async exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    const result = await this.inner.exec(argv, options);
    if (argv[0] === 'git' && argv[1] === 'fetch') this.lastFetch = result;
    return result;
  }
  writeFile(path: string, data: Uint8Array | string): Promise<void> {
    return this.inner.writeFile(path, data);
  }
  readFile(path: string): Promise<Buffer> {
    return this.inner.readFile(path);
  }
  destroy(): Promise<void> {
    return this.inner.destroy();
  }

  /** Why the repository could not be fetched, when the last fetch failed for a reason the user owns. */
  fetchRefusal(url: string): PermanentError | undefined {
    return this.lastFetch && fetchRefusal(url, this.lastFetch);
  }

  /**
   * A PlatformError when the driver no longer has this sandbox (a reaper, node loss, its lifetime ran out):
   * whatever the run concluded in it was cut short from outside and is no answer about the repository.
   */
  async vanished(driver: SandboxDriver, cause?: unknown): Promise<PlatformError | undefined> {
    const present = await driver.list(this.inner.labels);
    if (present.some((info) => info.id === this.inner.id)) return undefined;
    return new PlatformError(`the sandbox ${this.inner.id} was destroyed from outside while the fix ran`, {
      fault: 'sandbox-gone',
      cause,
      context: { sandbox: this.inner.id, driver: driver.name },
    });
  }
}

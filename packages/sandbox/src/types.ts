/**
 * The sandbox contract every driver implements: `local` (processes, under bubblewrap when available),
 * `docker` (one container per sandbox) and `kubernetes` (one Job per sandbox).
 *
 * The shape follows what users of agent sandboxes know from E2B (`commands.run`, `files.read/write`),
 * with argv instead of a shell string so that nothing is quoted by accident.
 */

export type DriverName = 'local' | 'docker' | 'kubernetes';

export interface SandboxLimits {
  cpus?: number;
  memoryBytes?: number;
  pids?: number;
  /** Disk a sandbox may fill: the workspace on container drivers, the largest file on the local one. */
  diskBytes?: number;
}

export interface SandboxSpec {
  /** Labels stored on the sandbox; must include the owner label (see `LABELS.owner`). */
  labels: Record<string, string>;
  /** Container image; drivers without images ignore it. */
  image?: string;
  /** Environment every command starts with; nothing of the worker's own environment leaks in. */
  env?: Record<string, string>;
  limits?: SandboxLimits;
  /**
   * What commands may reach over the network: `host`, `host:port`, `*.domain`, an IP address or a CIDR,
   * each allowed through the sandbox's egress path and nothing else. Absent or empty: no network at all.
   * Clone and install need the job's git host and the package registries here.
   */
  egress?: readonly string[];
  /** Host paths made visible read-only, for local `file://` repositories; only the local driver has a host. */
  readOnlyHostPaths?: string[];
  /** The sandbox ends itself after this long, even if its owner never destroys it. */
  maxLifetimeSeconds?: number;
  /**
   * A host directory for dependency caches (npm, pnpm, Go, pip) that outlives the sandbox, visible
   * read-write at the same path inside it. The worker keys it per repository so that tenants never share
   * one unless configured to. Implemented by the local driver; docker and kubernetes will mount it too.
   */
  cacheDir?: string;
}

export interface ExecOptions {
  /** Relative to the sandbox's workdir, or absolute inside the sandbox. */
  cwd?: string;
  env?: Record<string, string>;
  /** Kills the command and everything it started when it runs longer. */
  timeoutMs?: number;
  /** Bytes kept per stream; the middle of longer output is dropped and the result flags it. */
  maxOutputBytes?: number;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Aborting kills the command like a timeout does, but reports `aborted` instead. */
  signal?: AbortSignal;
}

export interface ExecResult {
  /** The command's exit status; a command killed by signal N reports 128 + N, as shells do. */
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  timedOut: boolean;
  aborted: boolean;
  /**
   * A sandbox limit that ended the command, when known: the kernel's OOM killer (`memory`), the per-file
   * size limit (`file size`, local), or a full workspace (`disk`, container drivers).
   */
  limit?: 'memory' | 'file size' | 'disk';
  durationMs: number;
}

export interface Sandbox {
  readonly id: string;
  /** The spec's `cacheDir` as commands see it, when the driver mounted one; absent otherwise. */
  readonly cacheDir?: string;
  /** Absolute path inside the sandbox where work happens; relative paths resolve against it. */
  readonly workdir: string;
  readonly labels: Readonly<Record<string, string>>;
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  /** Stops every command and frees everything the sandbox holds. Safe to call twice. */
  destroy(): Promise<void>;
}

export interface SandboxInfo {
  id: string;
  labels: Record<string, string>;
  createdAt: Date;
}

/** What preflight found: the isolation in force, in words for the start-up log, and what weakens it. */
export interface PreflightReport {
  isolation: string;
  warnings: string[];
  /** Sandboxes whose owner on this host had died, destroyed on the way. */
  cleared?: string[];
}

/** Spec fields that only some drivers can honour; a spec that asks for more is refused with a SandboxError. */
export interface DriverCapabilities {
  /** `readOnlyHostPaths`: the driver shares a host with the worker. */
  hostPaths: boolean;
  /** `cacheDir`: a worker-host directory mounted read-write. */
  cacheDir: boolean;
}

export interface SandboxDriver {
  readonly name: DriverName;
  readonly capabilities: DriverCapabilities;
  /**
   * Checks, before the first sandbox, that this driver can give the isolation it promises here (engine,
   * image, permissions, isolation tools), and clears what a dead owner on this host left behind. Fails with
   * a SandboxError that says what is missing and what to do.
   */
  preflight(): Promise<PreflightReport>;
  create(spec: SandboxSpec): Promise<Sandbox>;
  /** Sandboxes of this driver whose labels include every pair in `selector`. */
  list(selector?: Record<string, string>): Promise<SandboxInfo[]>;
  /** Destroys a sandbox by id, whoever created it; a missing sandbox is not an error. */
  destroy(id: string): Promise<void>;
  /** Frees what the driver itself holds (connections, the egress proxy); sandboxes are left as they are. */
  close(): Promise<void>;
}

export class SandboxError extends Error {
  readonly sandboxId: string | undefined;

  constructor(message: string, options: { sandboxId?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SandboxError';
    this.sandboxId = options.sandboxId;
  }
}

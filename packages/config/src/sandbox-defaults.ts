/**
 * Defaults every driver and the configuration schema read: what a sandbox gets when nobody says otherwise.
 * Here, not in the sandbox package, so that configuration depends on no driver.
 */
export const SANDBOX_DEFAULTS = {
  /** Limit for one command. */
  commandTimeoutSeconds: 900,
  /** Output kept per stream per command; the middle of longer output is dropped. */
  maxOutputBytes: 1_048_576,
  /** A sandbox ends itself after this long, even if its owner never destroys it. */
  maxLifetimeSeconds: 3600,
  limits: {
    cpus: 2,
    memoryMb: 4096,
    pids: 1024,
    /** The largest file a command may write (local: RLIMIT_FSIZE); the workspace bound on containers. */
    diskMb: 10_240,
  },
} as const;

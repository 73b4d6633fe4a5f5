/**
 * Errors decide retries. Every failure of a fix job ends up as one of two kinds: a PlatformError is the
 * platform's fault (Redis, a forge's 5xx, the network, a sandbox that could not be made or was killed from
 * outside) and is retried with backoff; a PermanentError is the job's or the deployment's (a repository
 * that does not exist, credentials refused, an invalid job, a bad setting) and fails at once, with a
 * message the user can act on. `retryable` is what the worker branches on.
 */
export type ErrorContext = Readonly<Record<string, string | number | boolean | undefined>>;

export interface FixJobErrorOptions {
  cause?: unknown;
  /** What was being done and on what (step, repository, status): logged with the error. */
  context?: ErrorContext;
}

export abstract class FixJobError extends Error {
  abstract readonly retryable: boolean;
  readonly context: ErrorContext;

  constructor(message: string, options: FixJobErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.context = options.context ?? {};
  }
}

export type PlatformFault =
  | 'redis'
  | 'forge'
  | 'network'
  | 'sandbox'
  /** The sandbox disappeared under a running fix (reaper, node loss, its lifetime): its result is void. */
  | 'sandbox-gone'
  /** A command the engine itself needs (git init, checkout) failed where the repository is not to blame. */
  | 'engine'
  /** Not sorted by anyone: retried, so that a fault nobody foresaw never fails a user's job for good. */
  | 'unexpected';

/** A failure of the platform rather than of the repository: retried with backoff while attempts remain. */
export class PlatformError extends FixJobError {
  readonly retryable = true;
  readonly fault: PlatformFault;

  constructor(message: string, options: FixJobErrorOptions & { fault?: PlatformFault } = {}) {
    super(message, options);
    this.name = 'PlatformError';
    this.fault = options.fault ?? 'engine';
  }
}

export type PermanentKind =
  | 'repository-not-found'
  | 'auth-refused'
  | 'invalid-job'
  | 'config'
  /** The forge refused a request as it was made (4xx other than 429): asking again gets the same answer. */
  | 'forge-refused';

/** A failure that retrying cannot heal: the job fails at once, and the message says what to change. */
export class PermanentError extends FixJobError {
  readonly retryable = false;
  readonly kind: PermanentKind;

  constructor(kind: PermanentKind, message: string, options: FixJobErrorOptions = {}) {
    super(message, options);
    this.name = 'PermanentError';
    this.kind = kind;
  }
}

import { UnrecoverableError } from 'bullmq';
import { ConfigError } from '@ci-fixer/config';
import { describeStatus, isRetryableStatus, statusOf } from '@ci-fixer/forge';
import { FixJobError, PermanentError, PlatformError } from '@ci-fixer/contract';
import { SandboxError } from '@ci-fixer/sandbox';

export type SortedFailure = PlatformError | PermanentError;

/**
 * Any error a job's attempt ended with, as one of the two kinds that decide retries (@ci-fixer/contract
 * errors.ts). Errors of code we do not own are sorted here: a forge status (ForgeApiError or Octokit's) by
 * the forge retry rule, a sandbox driver's error as the platform's, a refused setting as permanent; the rest
 * is retried as unexpected.
 */
export function sortFailure(error: unknown): SortedFailure {
  if (error instanceof PlatformError || error instanceof PermanentError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const cause = { cause: error };
  if (error instanceof ConfigError) return new PermanentError('config', message, cause);
  if (error instanceof SandboxError)
    return new PlatformError(message, { ...cause, fault: 'sandbox', context: { sandbox: error.sandboxId } });
  const status = statusOf(error);
  if (status !== undefined) {
    const context = { status };
    if (isRetryableStatus(status)) return new PlatformError(message, { ...cause, fault: 'forge', context });
    const kind = status === 401 || status === 403 ? 'auth-refused' : 'forge-refused';
    return new PermanentError(kind, `${describeStatus(status)} (${message})`, { ...cause, context });
  }
  const context = error instanceof FixJobError ? error.context : {};
  return new PlatformError(message, { ...cause, fault: 'unexpected', context });
}

/** Runs one step of a job; a permanent failure says which step it ended. */
export async function step<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const sorted = sortFailure(error);
    if (sorted instanceof PlatformError) throw sorted;
    throw new PermanentError(sorted.kind, `could not ${what}: ${sorted.message}`, {
      cause: sorted,
      context: { ...sorted.context, step: what },
    });
  }
}

/** What BullMQ is handed: a permanent failure as UnrecoverableError (no retry), a platform one as it is. */
export function forBullMQ(error: SortedFailure): Error {
  return error instanceof PermanentError ? new UnrecoverableError(error.message) : error;
}

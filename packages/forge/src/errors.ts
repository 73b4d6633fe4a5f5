import { FixJobError, PermanentError } from '@ci-fixer/contract';

/** The forge cannot be used as configured (no credentials, no installation): retrying will not help. */
export class ForgeConfigError extends PermanentError {
  constructor(message: string) {
    super('config', message);
    this.name = 'ForgeConfigError';
  }
}

/**
 * A forge API call failed after the call's own retries. Whether the job is retried follows the status:
 * no answer, 5xx and 429 are the forge's bad moment (the platform's); any other status is its answer.
 */
export class ForgeApiError extends FixJobError {
  readonly status: number;
  readonly retryable: boolean;
  constructor(message: string, status: number, options?: { cause?: unknown }) {
    super(message, { ...options, context: { status } });
    this.name = 'ForgeApiError';
    this.status = status;
    this.retryable = isRetryableStatus(status);
  }
}

/** A forge status that asking again later may turn into an answer; 0 is no answer at all (the network). */
export function isRetryableStatus(status: number): boolean {
  return status === 0 || status >= 500 || status === 429;
}

/** Short words for a failed forge call a person can act on. */
export function describeStatus(status: number): string {
  if (status === 401) return 'the forge rejected the credentials (401); check the token or App key';
  if (status === 403) return 'the forge denied access (403); check the token scopes or App permissions';
  if (status === 404)
    return 'the forge does not show this resource (404); it is gone or the credentials cannot see it';
  if (status === 422) return 'the forge refused the request as invalid (422)';
  if (status === 429) return 'the forge rate limit is exhausted (429)';
  return `the forge answered ${status}`;
}

/** A forge call's status, from an Octokit RequestError or a ForgeApiError. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

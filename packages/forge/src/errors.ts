/** The forge cannot be used as configured (no credentials, no installation): retrying will not help. */
export class ForgeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForgeConfigError';
  }
}

/** A forge API call failed for good (after retries, or with a permanent status). */
export class ForgeApiError extends Error {
  readonly status: number;
  constructor(message: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ForgeApiError';
    this.status = status;
  }
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

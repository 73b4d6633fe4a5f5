/**
 * One retry policy for every forge call, GitHub and GitLab alike: 5xx, 429 and rate-limit 403s are
 * retried with backoff, honouring `retry-after` and `x-ratelimit-reset`; anything else is permanent.
 */
export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  /** A wait the forge asks for beyond this is not waited for; the call fails instead. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 60_000 };

export type Headers = Record<string, string | number | undefined>;

/** Milliseconds to wait before the next try, or undefined when the error is permanent or tries are spent. */
export function retryDelay(
  status: number,
  headers: Headers,
  attempt: number,
  policy: RetryPolicy,
  now = Date.now(),
): number | undefined {
  if (attempt >= policy.attempts) return undefined;
  const header = (name: string) => {
    const value = headers[name] ?? headers[name.toLowerCase()];
    return value === undefined ? undefined : String(value);
  };
  const backoff = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);
  const asked = askedWaitMs(header('retry-after'), now);
  const rateLimited =
    status === 429 || (status === 403 && (asked !== undefined || header('x-ratelimit-remaining') === '0'));
  if (!rateLimited && status < 500) return undefined;
  if (asked !== undefined) return asked <= policy.maxDelayMs ? Math.max(asked, 0) : undefined;
  if (rateLimited && header('x-ratelimit-remaining') === '0' && header('x-ratelimit-reset')) {
    const resetMs = Number(header('x-ratelimit-reset')) * 1000 - now;
    return resetMs <= policy.maxDelayMs ? Math.max(resetMs, 0) + 1000 : undefined;
  }
  return backoff;
}

function askedWaitMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : date - now;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

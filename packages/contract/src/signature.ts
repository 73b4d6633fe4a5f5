import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FixJobData } from './request.ts';

/**
 * Job payloads carry an HMAC by the API, under a key the API and the workers share and Redis never sees
 * (CI_FIXER_JOB_SIGNING_KEY). Anyone who can write to Redis can change a waiting job; without the key they
 * cannot make a worker run the change.
 */
const VERSION = 'v1';

export type SignedJobData = FixJobData & { signature?: string };

/** The data with its signature, bound to the job id so that a payload cannot be moved to another job. */
export function signJobData(jobId: string, data: FixJobData, key: string): SignedJobData {
  return { ...data, signature: `${VERSION}:${digest(jobId, data, key)}` };
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

export function verifyJobData(jobId: string, data: SignedJobData, key: string): SignatureCheck {
  const { signature, ...unsigned } = data;
  if (typeof signature !== 'string' || !signature.startsWith(`${VERSION}:`))
    return { ok: false, reason: 'the job carries no signature' };
  const expected = Buffer.from(digest(jobId, unsigned, key));
  const actual = Buffer.from(signature.slice(VERSION.length + 1));
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected))
    return { ok: false, reason: 'the job signature does not match its data' };
  return { ok: true };
}

/**
 * The same HMAC over any other record a worker keeps in Redis for a job (a finished run's result), under a
 * scope of its own so that a record cannot pass for job data or another kind of record.
 */
export function signRecord(scope: string, jobId: string, record: unknown, key: string): string {
  return `${VERSION}:${digest(`record\u0000${scope}\u0000${jobId}`, record, key)}`;
}

export function verifyRecord(
  scope: string,
  jobId: string,
  record: unknown,
  signature: unknown,
  key: string,
): boolean {
  if (typeof signature !== 'string') return false;
  const expected = Buffer.from(signRecord(scope, jobId, record, key));
  const actual = Buffer.from(signature);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function digest(jobId: string, data: unknown, key: string): string {
  return createHmac('sha256', key)
    .update(`${jobId}\n${canonicalJson(data)}`)
    .digest('hex');
}

/** JSON with object keys sorted, so that the same data always signs the same way. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([name, item]) => `${JSON.stringify(name)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

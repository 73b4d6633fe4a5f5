/**
 * Redaction for anything that may reach a log line or a job record: tokens in URLs, bearer headers and
 * values under secret-looking keys.
 */

const SECRET_KEY =
  /(token|secret|password|passwd|authorization|api[-_]?key|private[-_]?key|cookie|credential)/i;
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+(?::[^\s/@]*)?@/gi;
const BEARER = /\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
const KNOWN_TOKEN_SHAPES =
  /\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9_-]{20,})\b/g;

export const REDACTED = '[REDACTED]';

export function redactText(text: string): string {
  return text
    .replace(URL_CREDENTIALS, `$1${REDACTED}@`)
    .replace(BEARER, `$1 ${REDACTED}`)
    .replace(KNOWN_TOKEN_SHAPES, REDACTED);
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value instanceof Error) {
    return {
      name: value.name,
      message: redactText(value.message),
      stack: value.stack && redactText(value.stack),
    };
  }
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[key] = redactField(key, inner, depth + 1);
  return out;
}

/** A value stored under `key`: withheld whole when the key names a secret, otherwise redacted inside. */
export function redactField(key: string, value: unknown, depth = 0): unknown {
  return SECRET_KEY.test(key) && value !== undefined && value !== null ? REDACTED : redact(value, depth);
}

/**
 * Redaction for anything that may reach a log line, a job record or an error response: credentials in
 * URLs, authorization headers, query strings and known token shapes; values under secret-looking keys; and
 * the exact values of the secrets this process was configured with, wherever they appear.
 */

const SECRET_KEY =
  /(token|secret|password|passwd|authorization|api[-_]?key|private[-_]?key|cookie|credential)/i;
/** `scheme://user:password@`, `scheme://:password@` (Redis), `scheme://token@`. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi;
/** Authorization header values: `Bearer x`, `token x` (GitHub), `Basic x` (the git header the code builds). */
const AUTH_SCHEME = /\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
/** `?private_token=…`, `&access_token=…`, `?api_key=…` and the like. */
const QUERY_CREDENTIAL =
  /([?&](?:[a-z0-9_-]*(?:token|secret|password|passwd)|api[-_]?key|key|sig|signature)=)[^&\s#"']+/gi;
const KNOWN_TOKEN_SHAPES = new RegExp(
  [
    'gh[pousr]_[A-Za-z0-9]{20,}',
    'github_pat_[A-Za-z0-9_]{20,}',
    // GitLab: personal/project/group (glpat), CI build (glcbt), deploy (gldt), runner, trigger, feed, …
    'gl[a-z]{2,6}-[A-Za-z0-9_-]{20,}',
    'sk-[A-Za-z0-9_-]{20,}',
    // JWTs: header and payload are base64url JSON objects, so both start with `eyJ`.
    'eyJ[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]+',
  ]
    .map((shape) => `\\b${shape}`)
    .join('|'),
  'g',
);
const PRIVATE_KEY_PEM = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;

export const REDACTED = '[REDACTED]';

/** Shorter values are not treated as secrets to find in text: they would match ordinary words. */
const MIN_SECRET_LENGTH = 8;
const secretValues = new Set<string>();
let secretPattern: RegExp | undefined;

/**
 * Registers the values of this process's configured secrets (tokens, keys, passwords), process-wide: from
 * then on every redaction replaces them wherever they occur, in whatever field or message.
 */
export function addSecretValues(values: Iterable<string | undefined>): void {
  for (const value of values) if (value && value.length >= MIN_SECRET_LENGTH) secretValues.add(value);
  const sorted = [...secretValues].sort((a, b) => b.length - a.length);
  secretPattern = sorted.length
    ? new RegExp(sorted.map((value) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
    : undefined;
}

export function redactText(text: string): string {
  const known = secretPattern ? text.replace(secretPattern, REDACTED) : text;
  return known
    .replace(PRIVATE_KEY_PEM, REDACTED)
    .replace(URL_CREDENTIALS, `$1${REDACTED}@`)
    .replace(AUTH_SCHEME, `$1 ${REDACTED}`)
    .replace(QUERY_CREDENTIAL, `$1${REDACTED}`)
    .replace(KNOWN_TOKEN_SHAPES, REDACTED);
}

/** A redacted copy, however deep; a value met again on its own path (a cycle) becomes `[Circular]`. */
export function redact(value: unknown): unknown {
  return redactValue(value, new WeakSet());
}

/** A value stored under `key`: withheld whole when the key names a secret, otherwise redacted inside. */
export function redactField(key: string, value: unknown): unknown {
  return redactFieldIn(key, value, new WeakSet());
}

function redactFieldIn(key: string, value: unknown, path: WeakSet<object>): unknown {
  return SECRET_KEY.test(key) && value !== undefined && value !== null ? REDACTED : redactValue(value, path);
}

function redactValue(value: unknown, path: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (path.has(value)) return '[Circular]';
  path.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => redactValue(item, path));
    if (value instanceof Error) {
      return {
        name: value.name,
        message: redactText(value.message),
        stack: value.stack && redactText(value.stack),
        ...(value.cause !== undefined ? { cause: redactValue(value.cause, path) } : {}),
      };
    }
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) out[key] = redactFieldIn(key, inner, path);
    return out;
  } finally {
    path.delete(value);
  }
}

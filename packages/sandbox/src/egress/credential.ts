import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * What a signed egress credential grants: one sandbox, its allow-list, until a time. The kubernetes driver
 * signs it and hands it to the sandbox in its proxy URL; the egress proxy, a separate Deployment, verifies
 * it with the same key (SANDBOX_EGRESS_PROXY_KEY). Nothing is stored anywhere: a sandbox can present only
 * the list it was given, since changing a byte of it breaks the signature.
 */
export interface EgressClaims {
  sandbox: string;
  allow: string[];
  /** Unix seconds; the proxy refuses the credential from then on. */
  expiresAt: number;
}

/** Separates these signatures from any other HMAC the same key might ever make. */
const CONTEXT = 'ci-fixer-egress-v1';

function signature(key: string, payload: string): Buffer {
  return createHmac('sha256', key).update(`${CONTEXT}.${payload}`).digest();
}

/** `sandbox:<payload>.<signature>`, URL-safe, for the user-info part of a proxy URL. */
export function signEgressCredential(key: string, claims: EgressClaims): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${claims.sandbox}:${payload}.${signature(key, payload).toString('base64url')}`;
}

/**
 * The claims of a credential (the user and password of a proxy's Basic authorization), or undefined when
 * the signature does not match, the user is not the signed sandbox, or it has expired.
 */
export function verifyEgressCredential(
  key: string,
  user: string,
  password: string,
  now = Date.now(),
): EgressClaims | undefined {
  const [payload = '', sig = '', extra] = password.split('.');
  if (extra !== undefined || !payload) return undefined;
  const expected = signature(key, payload);
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  } catch {
    return undefined;
  }
  if (!isClaims(claims) || claims.sandbox !== user || claims.expiresAt * 1000 <= now) return undefined;
  return claims;
}

function isClaims(value: unknown): value is EgressClaims {
  const claims = value as Partial<EgressClaims> | null;
  return (
    typeof claims === 'object' &&
    claims !== null &&
    typeof claims.sandbox === 'string' &&
    Array.isArray(claims.allow) &&
    claims.allow.every((entry) => typeof entry === 'string') &&
    typeof claims.expiresAt === 'number'
  );
}

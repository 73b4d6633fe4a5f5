import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import { sendProblem } from './problem.ts';

export const SESSION_COOKIE = 'ci_fixer_session';
const SESSION_KEY_PREFIX = 'ci-fixer:session:';
// 32 random bytes, base64url: what issue() hands out. Anything else is refused without a Redis lookup.
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** Compares secrets in constant time, whatever their lengths. */
export function safeEqual(a: string, b: string): boolean {
  const digest = (value: string) => createHmac('sha256', 'ci-fixer-compare').update(value).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Dashboard sessions, server-side in Redis so every replica sees a sign-out at once. The cookie holds a
 * random id only; Redis holds a digest of that id (a leaked Redis dump yields no usable cookie) mapped to
 * a fingerprint of the API token the session was opened with. Signing out deletes the session; a session
 * opened under another token (CI_FIXER_API_TOKEN rotated) is refused and deleted on sight.
 */
export class SessionStore {
  private readonly redis: Redis;
  private readonly fingerprint: string;
  readonly ttlSeconds: number;

  constructor(redis: Redis, token: string, ttlSeconds: number) {
    this.redis = redis;
    this.fingerprint = createHmac('sha256', token).update('ci-fixer-dashboard-session').digest('base64url');
    this.ttlSeconds = ttlSeconds;
  }

  async issue(): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    await this.redis.set(sessionKey(id), this.fingerprint, 'EX', this.ttlSeconds);
    return id;
  }

  async verify(id: string): Promise<boolean> {
    if (!SESSION_ID.test(id)) return false;
    const owner = await this.redis.get(sessionKey(id));
    if (owner === null) return false;
    if (safeEqual(owner, this.fingerprint)) return true;
    await this.redis.del(sessionKey(id));
    return false;
  }

  async revoke(id: string): Promise<void> {
    if (SESSION_ID.test(id)) await this.redis.del(sessionKey(id));
  }
}

function sessionKey(id: string): string {
  return `${SESSION_KEY_PREFIX}${createHash('sha256').update(id).digest('hex')}`;
}

export function sessionCookie(
  value: string,
  { secure, maxAgeSeconds }: { secure: boolean; maxAgeSeconds: number },
): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/admin',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAgeSeconds}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

export function bearer(req: Request): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

export function sessionOf(req: Request): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === SESSION_COOKIE) return value.join('=');
  }
  return undefined;
}

/** The bearer token if one is sent (a wrong one is not made up for by a cookie), else the session cookie. */
export async function isAuthenticated(req: Request, token: string, sessions: SessionStore): Promise<boolean> {
  const presented = bearer(req);
  if (presented !== undefined) return safeEqual(presented, token);
  const session = sessionOf(req);
  return session !== undefined && (await sessions.verify(session));
}

/** Bearer-token auth for the REST API; cookies are not accepted there (no CSRF surface). */
export function requireToken(token: string): RequestHandler {
  return (req, res, next) => {
    const presented = bearer(req);
    if (presented !== undefined && safeEqual(presented, token)) return next();
    res.setHeader('WWW-Authenticate', 'Bearer realm="ci-fixer"');
    const detail = req.headers.authorization
      ? 'the bearer token is not valid'
      : 'send `Authorization: Bearer <CI_FIXER_API_TOKEN>`';
    sendProblem(res, 401, 'Unauthorized', detail);
  };
}

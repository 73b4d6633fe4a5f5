import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { sendProblem } from './problem.ts';

export const SESSION_COOKIE = 'ci_fixer_session';
const SESSION_MAX_AGE_SECONDS = 12 * 3600;

/** Compares secrets in constant time, whatever their lengths. */
export function safeEqual(a: string, b: string): boolean {
  const digest = (value: string) => createHmac('sha256', 'ci-fixer-compare').update(value).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * A browser session for the dashboard: an issue time signed with the API token. It never contains the
 * token, and rotating the token ends every session.
 */
export function issueSession(token: string, now = Date.now()): string {
  const issued = String(Math.floor(now / 1000));
  return `${issued}.${sign(token, issued)}`;
}

export function verifySession(token: string, session: string, now = Date.now()): boolean {
  const [issued, signature] = session.split('.');
  if (!issued || !signature || !/^\d+$/.test(issued)) return false;
  const age = Math.floor(now / 1000) - Number(issued);
  return age >= 0 && age <= SESSION_MAX_AGE_SECONDS && safeEqual(signature, sign(token, issued));
}

export function sessionCookie(value: string, secure: boolean): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/admin',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${SESSION_MAX_AGE_SECONDS}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

function sign(token: string, issued: string): string {
  return createHmac('sha256', token).update(`ci-fixer-dashboard:${issued}`).digest('base64url');
}

function bearer(req: Request): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

export function isAuthenticated(
  req: Request,
  token: string,
  { allowCookie }: { allowCookie: boolean },
): boolean {
  const presented = bearer(req);
  if (presented !== undefined) return safeEqual(presented, token);
  const session = allowCookie ? cookie(req, SESSION_COOKIE) : undefined;
  return session !== undefined && verifySession(token, session);
}

/** Bearer-token auth for the REST API. */
export function requireToken(token: string): RequestHandler {
  return (req, res, next) => {
    if (isAuthenticated(req, token, { allowCookie: false })) return next();
    res.setHeader('WWW-Authenticate', 'Bearer realm="ci-fixer"');
    const detail = req.headers.authorization
      ? 'the bearer token is not valid'
      : 'send `Authorization: Bearer <CI_FIXER_API_TOKEN>`';
    sendProblem(res, 401, 'Unauthorized', detail);
  };
}

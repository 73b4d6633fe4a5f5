import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express, { Router, type RequestHandler } from 'express';
import type { Queue } from 'bullmq';
import helmet from 'helmet';
import type { Redis } from 'ioredis';
import { isAuthenticated, safeEqual, sessionCookie, sessionOf, type SessionStore } from './auth.ts';
import { addressKey, redisUnavailable, requestLimit } from './limits.ts';
import { sendProblem } from './problem.ts';

export const DASHBOARD_PATH = '/admin/queues';
const LOGIN_PATH = '/admin/login';

export interface DashboardOptions {
  queue: Queue;
  redis: Redis;
  token: string;
  sessions: SessionStore;
  readOnly: boolean;
  /** Production sets `Secure` on the cookie whatever the request says: TLS may end at a proxy. */
  production: boolean;
  signIn: { maxFailures: number; windowSeconds: number };
}

/**
 * Security headers for every page under /admin. Everything the pages load comes from this origin: Bull
 * Board's scripts, styles and icons are served under DASHBOARD_PATH/static. Inline styles are allowed
 * because Bull Board's page and the login page use them; inline scripts are not (the page has none that
 * run: its config is a JSON data block). No upgrade-insecure-requests: TLS may end at the ingress, and
 * a plain-HTTP dashboard on loopback must still load its own assets.
 */
export const dashboardHeaders: RequestHandler = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
  referrerPolicy: { policy: 'no-referrer' },
});

// Bull Board's page links a web font from a third party; the dashboard fetches nothing from elsewhere.
const REMOTE_STYLESHEET = /<link\b[^>]*\bhref="https?:\/\/[^"]*"[^>]*>/gi;

/** Drops remote stylesheet links from what Bull Board renders (its index page). */
const localAssetsOnly: RequestHandler = (_req, res, next) => {
  const render = res.render.bind(res);
  res.render = ((view: string, options?: object) => {
    render(view, options ?? {}, (error: Error | null, html: string) => {
      if (error) return next(error);
      res.type('html').send(html.replace(REMOTE_STYLESHEET, ''));
    });
  }) as typeof res.render;
  next();
};

/**
 * Bull Board, which has no authentication of its own, behind the API token: the Authorization header
 * for tools, or a login form that opens a server-side session (an HttpOnly cookie) for people.
 */
export function dashboardRoutes(options: DashboardOptions): Router {
  const { queue, redis, token, sessions, readOnly } = options;
  const router = Router();
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({ queues: [new BullMQAdapter(queue, { readOnlyMode: readOnly })], serverAdapter });

  router.use('/admin', dashboardHeaders);

  router.get(LOGIN_PATH, (_req, res) => {
    res.type('html').send(loginPage());
  });

  // Only wrong tokens count: someone who signs in often is not throttled, a guesser is.
  const signInLimit = requestLimit({
    redis,
    name: 'sign-in',
    what: 'failed sign-ins from this address',
    setting: 'API_SIGN_IN_MAX_FAILURES',
    limit: options.signIn.maxFailures,
    windowSeconds: options.signIn.windowSeconds,
    key: addressKey,
    failuresOnly: true,
  });

  router.post(
    LOGIN_PATH,
    signInLimit,
    express.urlencoded({ extended: false, limit: '4kb' }),
    async (req, res) => {
      const presented = typeof req.body?.token === 'string' ? req.body.token : '';
      if (!safeEqual(presented, token)) {
        res.status(401).type('html').send(loginPage('That token is not valid.'));
        return;
      }
      const session = await sessions.issue().catch((error: unknown) => {
        throw redisUnavailable(error);
      });
      const secure = options.production || req.secure;
      res.setHeader('Set-Cookie', sessionCookie(session, { secure, maxAgeSeconds: sessions.ttlSeconds }));
      res.redirect(303, DASHBOARD_PATH);
    },
  );

  router.post('/admin/logout', async (req, res) => {
    const session = sessionOf(req);
    if (session !== undefined) {
      await sessions.revoke(session).catch((error: unknown) => {
        throw redisUnavailable(error);
      });
    }
    const secure = options.production || req.secure;
    res.setHeader('Set-Cookie', sessionCookie('', { secure, maxAgeSeconds: 0 }));
    res.redirect(303, LOGIN_PATH);
  });

  router.use(DASHBOARD_PATH, async (req, res, next) => {
    const authenticated = await isAuthenticated(req, token, sessions).catch((error: unknown) => {
      throw redisUnavailable(error);
    });
    if (authenticated) return next();
    if (req.accepts(['html', 'json']) === 'html') {
      res.redirect(303, LOGIN_PATH);
      return;
    }
    sendProblem(res, 401, 'Unauthorized', `log in at ${LOGIN_PATH} or send Authorization: Bearer <token>`);
  });
  router.use(DASHBOARD_PATH, localAssetsOnly, serverAdapter.getRouter() as Router);
  return router;
}

function loginPage(error?: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>ci-fixer · sign in</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:12vh auto;padding:0 1rem}
input,button{font:inherit;padding:.5rem;width:100%;box-sizing:border-box;margin:.5rem 0}
.error{color:#b00020}</style></head>
<body>
<h1>ci-fixer queues</h1>
<p>Enter the API token (<code>CI_FIXER_API_TOKEN</code>) to open Bull Board.</p>
${error ? `<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="${LOGIN_PATH}">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
</body>
</html>`;
}

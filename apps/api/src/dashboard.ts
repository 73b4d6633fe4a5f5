import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express, { Router } from 'express';
import type { Queue } from 'bullmq';
import { isAuthenticated, issueSession, safeEqual, sessionCookie, SESSION_COOKIE } from './auth.ts';
import { sendProblem } from './problem.ts';

export const DASHBOARD_PATH = '/admin/queues';
const LOGIN_PATH = '/admin/login';

export interface DashboardOptions {
  queue: Queue;
  token: string;
  readOnly: boolean;
}

/**
 * Bull Board, which has no authentication of its own, behind the API token: the Authorization header
 * for tools, or a login form that sets an HttpOnly session cookie for people.
 */
export function dashboardRoutes({ queue, token, readOnly }: DashboardOptions): Router {
  const router = Router();
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({ queues: [new BullMQAdapter(queue, { readOnlyMode: readOnly })], serverAdapter });

  router.get(LOGIN_PATH, (_req, res) => {
    res.type('html').send(loginPage());
  });

  router.post(LOGIN_PATH, express.urlencoded({ extended: false, limit: '4kb' }), (req, res) => {
    const presented = typeof req.body?.token === 'string' ? req.body.token : '';
    if (!safeEqual(presented, token)) {
      res.status(401).type('html').send(loginPage('That token is not valid.'));
      return;
    }
    res.setHeader('Set-Cookie', sessionCookie(issueSession(token), req.secure));
    res.redirect(303, DASHBOARD_PATH);
  });

  router.post('/admin/logout', (req, res) => {
    res.setHeader('Set-Cookie', `${SESSION_COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0`);
    res.redirect(303, LOGIN_PATH);
  });

  router.use(DASHBOARD_PATH, (req, res, next) => {
    if (isAuthenticated(req, token, { allowCookie: true })) return next();
    if (req.accepts(['html', 'json']) === 'html') {
      res.redirect(303, LOGIN_PATH);
      return;
    }
    sendProblem(res, 401, 'Unauthorized', `log in at ${LOGIN_PATH} or send Authorization: Bearer <token>`);
  });
  router.use(DASHBOARD_PATH, serverAdapter.getRouter() as Router);
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

/**
 * Bull Board in a real browser (Debian's headless Chromium driven by playwright-core): without a session
 * it shows the login form only; after signing in with the API token it shows the queue and a job a signed
 * webhook queued. Real API, real Redis (a private server). A screenshot is kept in test-results/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  API_TOKEN,
  GITHUB_SECRET,
  failedWorkflowRun,
  postGitHub,
  readJson,
  startApi,
} from '../../apps/api/test/webhooks-harness.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const CHROMIUM = '/usr/bin/chromium';
const RESULTS = path.resolve(import.meta.dirname, '../../test-results');

let redis: TestRedis;
let api: Awaited<ReturnType<typeof startApi>>;
let browser: BrowserContext;
let profile: string;
let jobId: string;

beforeAll(async () => {
  redis = await startTestRedis();
  api = await startApi({ GITHUB_WEBHOOK_SECRET: GITHUB_SECRET }, redis.url);
  const response = await postGitHub(api.url, 'workflow_run', failedWorkflowRun());
  jobId = (await readJson(response)).jobId;

  profile = mkdtempSync(path.join(os.tmpdir(), 'cif-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await api?.close();
  await redis?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

it('keeps Bull Board behind the login form and shows the queued job after signing in', async () => {
  const page = await browser.newPage();
  // The dashboard loads everything from its own origin: anything else is recorded and never sent.
  const elsewhere: string[] = [];
  await page.route(
    (url) => url.origin !== new URL(api.url).origin,
    (route) => {
      elsewhere.push(route.request().url());
      return route.abort();
    },
  );
  // The security headers must not break the board: a blocked script, style or fetch shows in the console.
  const blocked: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
  });

  // Without credentials: sent to the login form; the board's API refuses.
  await page.goto(`${api.url}/admin/queues`);
  expect(new URL(page.url()).pathname).toBe('/admin/login');
  expect(await page.locator('body').innerText()).not.toContain('fix-jobs');
  const anonymous = await page.request.get(`${api.url}/admin/queues/api/queues`, {
    headers: { accept: 'application/json' },
  });
  expect(anonymous.status()).toBe(401);

  // A wrong token is refused.
  await page.fill('#token', 'not-the-token-at-all');
  await page.click('button[type=submit]');
  await expect.poll(() => page.locator('[role=alert]').innerText()).toContain('not valid');

  // The right token sets the session cookie and opens the board.
  await page.fill('#token', API_TOKEN);
  await page.click('button[type=submit]');
  await page.waitForURL(`${api.url}/admin/queues**`);
  const cookies = await browser.cookies(api.url + '/admin');
  expect(cookies.map((cookie) => cookie.name)).toContain('ci_fixer_session');
  await page.getByText('fix-jobs').first().waitFor();

  await page.goto(`${api.url}/admin/queues/queue/fix-jobs?status=waiting`);
  await page.getByText(jobId).first().waitFor();
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: path.join(RESULTS, 'bull-board.png'), fullPage: true });

  expect(elsewhere).toEqual([]);
  expect(blocked).toEqual([]);

  // Signing out ends the session on the server: the old cookie, replayed, no longer opens the board.
  const [session] = (await browser.cookies(api.url + '/admin')).filter((c) => c.name === 'ci_fixer_session');
  await page.request.post(`${api.url}/admin/logout`, { maxRedirects: 0 });
  await browser.clearCookies();
  const replayed = await page.request.get(`${api.url}/admin/queues/api/queues`, {
    headers: { accept: 'application/json', cookie: `${session!.name}=${session!.value}` },
  });
  expect(replayed.status()).toBe(401);
  await page.goto(`${api.url}/admin/queues`);
  expect(new URL(page.url()).pathname).toBe('/admin/login');
});

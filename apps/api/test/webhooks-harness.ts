import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { loadConfig } from '@ci-fixer/config';
import { QUEUE_NAME, QUEUE_PREFIX } from '@ci-fixer/queue';
import { createLogger } from '@ci-fixer/logger';
import { createApp } from '../src/app.ts';
import { FixQueue } from '../src/fix-queue.ts';

export const API_TOKEN = 'webhook-test-token-0123456789';
export const GITHUB_SECRET = "It's a Secret to Everybody";
export const GITLAB_TOKEN = 'gitlab-hook-token';

/** An API on an ephemeral port with its own queue on a Redis DB of its own. */
export async function startApi(env: Record<string, string>, redisUrl: string) {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    CI_FIXER_API_TOKEN: API_TOKEN,
    ...env,
    REDIS_URL: redisUrl,
  });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  // Requests are counted against limits only once Redis is ready; tests that count them start then.
  await new Promise((resolve) => redis.once('ready', resolve));
  // The API's own queue class, so quotas and job summaries apply here as in production; unsigned jobs.
  const queue = new FixQueue(QUEUE_NAME, { connection: redis, prefix: QUEUE_PREFIX }, undefined, {
    maxQueuedPerRepo: config.API_MAX_QUEUED_PER_REPO,
    maxQueuedPerInstallation: config.API_MAX_QUEUED_PER_INSTALLATION,
  });
  const logger = createLogger({ service: 'api-test', level: 'error' });
  const app = createApp({ config, token: config.CI_FIXER_API_TOKEN!, queue, redis, logger });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    queue,
    redis,
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await queue.close();
      redis.disconnect();
    },
  };
}

// Webhook payloads and answers are loose JSON; tests read and change them freely.
export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
export const readJson = (response: Response) => response.json() as Promise<Json>;

const require = createRequire(import.meta.url);
interface ExampleGroup {
  name: string;
  examples: Record<string, unknown>[];
}
const examples = require('@octokit/webhooks-examples/api.github.com/index.json') as ExampleGroup[];

/** A real payload from @octokit/webhooks-examples, deep-copied so a test may change it. */
export function githubExample(event: string, pick: (payload: Json) => boolean) {
  const found = examples.find((group) => group.name === event)?.examples.find(pick);
  if (!found) throw new Error(`no ${event} example matches`);
  return structuredClone(found) as Json;
}

/** The workflow_run example that belongs to a pull request, concluded as `failure`. */
export function failedWorkflowRun() {
  const payload = githubExample(
    'workflow_run',
    (p) =>
      p.action === 'completed' && (p.workflow_run as { pull_requests: unknown[] }).pull_requests.length > 0,
  );
  payload.workflow_run.conclusion = 'failure';
  return payload;
}

export function gitlabPipeline(status = 'failed') {
  const payload = JSON.parse(
    readFileSync(
      new URL('../../../test/support/forge-standin/payloads/gitlab-pipeline-hook.json', import.meta.url),
      'utf8',
    ),
  );
  payload.object_attributes.status = status;
  // GitLab's documented example clones from a private address over plain HTTP, which no API here queues.
  payload.project.git_http_url = 'https://gitlab.com/gitlab-org/gitlab-test.git';
  return payload;
}

export function signGitHub(body: string, secret = GITHUB_SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function postGitHub(
  url: string,
  event: string,
  payload: unknown,
  {
    delivery = randomUUID() as string,
    headers = {} as Record<string, string>,
    body = JSON.stringify(payload),
  } = {},
) {
  return fetch(`${url}/webhooks/github`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': delivery,
      'x-hub-signature-256': signGitHub(body),
      'user-agent': 'GitHub-Hookshot/test',
      ...headers,
    },
    body,
  });
}

export function postGitLab(
  url: string,
  payload: unknown,
  { event = 'Pipeline Hook', uuid = randomUUID() as string, headers = {} as Record<string, string> } = {},
) {
  return fetch(`${url}/webhooks/gitlab`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-gitlab-event': event,
      'x-gitlab-token': GITLAB_TOKEN,
      'x-gitlab-event-uuid': uuid,
      ...headers,
    },
    body: JSON.stringify(payload),
  });
}

/**
 * Job records as the API shows them: what commands printed is redacted (credential shapes and the
 * configured secrets' values), the patch is left byte for byte. A real BullMQ job on a private Redis.
 */
import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type FixJobData, type FixResult } from '@ci-fixer/contract';
import { QUEUE_PREFIX } from '@ci-fixer/queue';
import { addSecretValues, REDACTED } from '@ci-fixer/logger';
import { startTestRedis, type TestRedis } from '../../../test/support/redis.ts';
import { toJobView } from '../src/job-view.ts';

const QUEUE = 'job-view-test';
const CONFIGURED_SECRET = 'configured-webhook-secret-0123456789';
let server: TestRedis;
let queue: Queue<FixJobData>;
let events: QueueEvents;

beforeAll(async () => {
  server = await startTestRedis();
  const connection = { url: server.url };
  queue = new Queue<FixJobData>(QUEUE, { connection, prefix: QUEUE_PREFIX });
  events = new QueueEvents(QUEUE, { connection, prefix: QUEUE_PREFIX });
  await events.waitUntilReady();
});
afterAll(async () => {
  await events?.close();
  await queue?.close();
  await server?.stop();
});

const patch = [
  'diff --git a/src/client.js b/src/client.js',
  '--- a/src/client.js',
  '+++ b/src/client.js',
  '@@ -1 +1 @@',
  "-const auth = 'Bearer example-token-in-the-repo'",
  "+const auth = 'Bearer example-token-in-the-repo';",
  '',
].join('\n');

test('a finished job shows redacted reasons and log tails, and its patch unchanged', async () => {
  addSecretValues([CONFIGURED_SECRET]);
  const result: FixResult = {
    outcome: 'fixed',
    reason: `verified; the install printed ${CONFIGURED_SECRET}`,
    diagnosis: null,
    patch,
    strategy: 'prettier-write',
    baseSha: 'b'.repeat(40),
    steps: [
      {
        stage: 'installing',
        command: 'npm ci',
        startedAt: new Date().toISOString(),
        exitCode: 0,
        timedOut: false,
        durationMs: 10,
        logTail:
          'fetch https://x:ghp_0123456789abcdefghijklmnop@host/r\nAuthorization: Basic dXNlcjpwYXNzd29yZA==',
      },
    ],
  };
  const worker = new Worker<FixJobData, FixResult>(QUEUE, async () => result, {
    connection: { url: server.url },
    prefix: QUEUE_PREFIX,
  });
  try {
    const added = await queue.add('fix', {
      request: { repo: { url: 'https://example.test/acme/app' }, command: 'npx prettier --check .' },
      submittedAt: new Date().toISOString(),
    });
    await added.waitUntilFinished(events, 30_000);
    const job = (await queue.getJob(added.id!)) as Job<FixJobData>;
    const view = toJobView(job, await job.getState(), false);

    expect(view.status).toBe('fixed');
    expect(view.patch).toBe(patch);
    const shown = JSON.stringify({ ...view, patch: undefined });
    expect(shown).not.toContain(CONFIGURED_SECRET);
    expect(shown).not.toContain('ghp_0123456789abcdefghijklmnop');
    expect(shown).not.toContain('dXNlcjpwYXNzd29yZA==');
    expect(view.steps[0]!.logTail).toContain(REDACTED);
    expect(view.reason).toBe(`verified; the install printed ${REDACTED}`);
  } finally {
    await worker.close();
  }
});

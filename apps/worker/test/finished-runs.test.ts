/**
 * The record a delivery of a job leaves once its fix ended, so that a re-delivery after a lost completion
 * reuses the result. It is signed: a result planted or moved in Redis is ignored. Real Redis, private.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type FixResult } from '@ci-fixer/contract';
import { finishedRunKey } from '@ci-fixer/queue';
import { startTestRedis, type TestRedis } from '../../../test/support/redis.ts';
import { FinishedRuns } from '../src/finished-runs.ts';

let server: TestRedis;
let redis: Redis;
let runs: FinishedRuns;

const result: FixResult = {
  outcome: 'fixed',
  reason: 'prettier rewrote 1 file',
  diagnosis: null,
  patch: 'diff --git a/src/index.js b/src/index.js\n',
  strategy: 'prettier-write',
  baseSha: 'a'.repeat(40),
  steps: [],
};

beforeAll(async () => {
  server = await startTestRedis();
  redis = new Redis(server.url);
  runs = new FinishedRuns(redis, { signingKey: 'finished-runs-test-key-0123456789', ttlSeconds: 60 });
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

describe('finished runs', () => {
  test('a saved run is loaded for its job, and forgotten once the job completed', async () => {
    expect(await runs.load('job-1')).toBeUndefined();
    await runs.save('job-1', { stage: 'fixed', result });
    expect(await runs.load('job-1')).toEqual({ stage: 'fixed', result });
    expect(await redis.ttl(finishedRunKey('job-1'))).toBeGreaterThan(0);

    await runs.forget('job-1');
    expect(await runs.load('job-1')).toBeUndefined();
  });

  test('a result changed in Redis is ignored', async () => {
    await runs.save('job-2', { stage: 'reported', result });
    const stored = JSON.parse((await redis.get(finishedRunKey('job-2')))!);
    stored.run.result.patch = 'diff --git a/.github/workflows/ci.yml b/.github/workflows/ci.yml\n';
    await redis.set(finishedRunKey('job-2'), JSON.stringify(stored));
    expect(await runs.load('job-2')).toBeUndefined();
  });

  test("another job's record moved onto this job is ignored", async () => {
    await runs.save('job-3', { stage: 'reported', result });
    await redis.copy(finishedRunKey('job-3'), finishedRunKey('job-4'));
    expect(await runs.load('job-4')).toBeUndefined();
  });

  test('a record planted without the key is ignored', async () => {
    const planter = new FinishedRuns(redis, {
      signingKey: 'someone-elses-key-0123456789abcd',
      ttlSeconds: 60,
    });
    await planter.save('job-5', { stage: 'reported', result });
    expect(await runs.load('job-5')).toBeUndefined();
  });
});

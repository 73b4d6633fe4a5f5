/**
 * Liveness is never inferred from silence alone: a worker reads another worker's missing lease as death only
 * after its own lease has been renewed without a gap for a full TTL. Real Redis (a private server this file
 * starts), paused with SIGSTOP for an outage and with its client connections killed for a dropped link.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { heartbeatKey } from '@ci-fixer/queue';
import { waitFor } from '../../../test/support/processes.ts';
import { startTestRedis, type TestRedis } from '../../../test/support/redis.ts';
import { Heartbeat } from '../src/heartbeat.ts';

// Long enough that a loaded CI machine's event-loop delays stay well inside the allowed renewal gap.
const TTL_MS = 3_000;
let server: TestRedis;
const opened: { heartbeat?: Heartbeat; redis: Redis }[] = [];

beforeAll(async () => {
  server = await startTestRedis();
});
afterEach(async () => {
  server.resume();
  for (const { heartbeat, redis } of opened.splice(0)) {
    await heartbeat?.stop().catch(() => {});
    redis.disconnect();
  }
});
afterAll(async () => {
  await server?.stop();
});

/** A worker's connection and lease, as startWorker makes them (retrying forever, like BullMQ's). */
async function startLease(workerId: string): Promise<Heartbeat> {
  const redis = new Redis(server.url, { maxRetriesPerRequest: null });
  redis.on('error', () => {});
  const heartbeat = new Heartbeat(redis, workerId, TTL_MS);
  opened.push({ heartbeat, redis });
  await heartbeat.start();
  return heartbeat;
}

function admin(): Redis {
  const redis = new Redis(server.url);
  opened.push({ redis });
  return redis;
}

const judging = (heartbeat: Heartbeat) =>
  waitFor('the lease to have been renewed for a TTL', () => heartbeat.canJudgeOthers() || undefined, {
    timeoutMs: 10 * TTL_MS,
  });

describe('judging other workers', () => {
  test('a worker that has just connected takes a missing lease for a live owner', async () => {
    const judge = await startLease('judge-new');
    expect(judge.canJudgeOthers()).toBe(false);
    expect(await judge.isOwnerAlive('never-leased')).toBe(true);

    await judging(judge);
    expect(await judge.isOwnerAlive('never-leased')).toBe(false);
  });

  test('a live owner is alive and a stopped one is dead, once the judge has its evidence', async () => {
    const judge = await startLease('judge-steady');
    const owner = await startLease('owner-steady');
    await judging(judge);
    expect(await judge.isOwnerAlive('owner-steady')).toBe(true);

    await owner.stop();
    expect(await judge.isOwnerAlive('owner-steady')).toBe(false);
  });
});

describe('after an outage', () => {
  test('a lease that lapsed while Redis hung is not evidence until a full TTL of renewals', async () => {
    const judge = await startLease('judge-outage');
    await judging(judge);
    // An owner whose last renewal landed just before the outage, and whose next lands only after it.
    await admin().set(heartbeatKey('owner-outage'), 'beat', 'PX', TTL_MS);

    server.pause();
    await sleep(TTL_MS * 1.5);
    server.resume();
    expect(await admin().exists(heartbeatKey('owner-outage'))).toBe(0);

    expect(judge.canJudgeOthers()).toBe(false);
    expect(await judge.isOwnerAlive('owner-outage')).toBe(true);
    // The owner renews again (its own connection came back later than the judge's): never reaped.
    await startLease('owner-outage');
    await judging(judge);
    expect(await judge.isOwnerAlive('owner-outage')).toBe(true);
  });

  test('an owner that stays silent a full TTL after the outage is dead', async () => {
    const judge = await startLease('judge-silent');
    await judging(judge);
    await admin().set(heartbeatKey('owner-silent'), 'beat', 'PX', TTL_MS);

    server.pause();
    await sleep(TTL_MS * 1.5);
    server.resume();
    expect(await judge.isOwnerAlive('owner-silent')).toBe(true);

    await judging(judge);
    expect(await judge.isOwnerAlive('owner-silent')).toBe(false);
  });

  test("a dropped connection starts the judge's wait again", async () => {
    const judge = await startLease('judge-dropped');
    await judging(judge);
    expect(await judge.isOwnerAlive('never-leased')).toBe(false);

    await admin().call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await waitFor('the judge to notice the dropped connection', () => !judge.canJudgeOthers() || undefined);
    expect(await judge.isOwnerAlive('never-leased')).toBe(true);

    await judging(judge);
    expect(await judge.isOwnerAlive('never-leased')).toBe(false);
  });
});

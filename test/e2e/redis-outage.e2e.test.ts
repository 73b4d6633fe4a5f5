/**
 * A Redis outage longer than the heartbeat TTL while sandboxes run (issue 15): every lease lapses at once,
 * yet no worker takes another for dead, nobody's sandbox is reaped, and every job finishes with its answer.
 */
import { afterEach, expect, it } from 'vitest';
import {
  deployment,
  drillRedis,
  expectOneAnswer,
  expectOutcomes,
  SHORT,
  stopDrills,
  type Submitted,
} from '../support/drill.ts';
import { waitFor } from '../support/processes.ts';
import { localSandboxDirs } from '../support/sandboxes.ts';

afterEach(stopDrills);

it('reaps no running sandbox during a Redis outage longer than the heartbeat TTL, and finishes every job', async () => {
  const started = performance.now();
  const redis = await drillRedis();
  const drill = await deployment(redis, SHORT);
  const jobs: Submitted[] = [];
  // Long enough that every fix is still running when Redis comes back.
  for (const kind of ['formatter', 'logic', 'formatter', 'logic'] as const)
    jobs.push(await drill.submit(kind, 'sleep 8; '));
  await waitFor('all four fixes to run', () =>
    localSandboxDirs(drill.sandboxRoot).length === 4 ? true : undefined,
  );
  const outageMs = 3 * Number(SHORT.WORKER_HEARTBEAT_TTL_MS);
  redis.pause();
  await new Promise((resolve) => setTimeout(resolve, outageMs));
  redis.resume();

  const views = await drill.settled(jobs, 90_000);
  expectOutcomes(jobs, views);
  const output = drill.everyWorker.map((worker) => worker.output()).join('\n');
  expect(output).not.toContain('reaped sandboxes of dead workers');
  expect(output).not.toContain('"fault":"sandbox-gone"');
  expect(output).toContain('reaping paused until this worker has been connected to Redis');
  await waitFor('every sandbox to be gone', () =>
    localSandboxDirs(drill.sandboxRoot).length === 0 ? true : undefined,
  );
  const fixes = expectOneAnswer(jobs, drill.finishedFixes);
  console.log(
    `outage: ${jobs.length} jobs, Redis stopped ${outageMs / 1000} s (heartbeat TTL ${Number(SHORT.WORKER_HEARTBEAT_TTL_MS) / 1000} s); reaped 0; outcomes ${views.map((view) => view.status).join(', ')}; attempts ${views.reduce((sum, view) => sum + view.attempts, 0)}; fixes run to the end twice: ${fixes.filter((count) => count > 1).length}; ${Math.round((performance.now() - started) / 1000)} s`,
  );
});

/**
 * A worker started by `pnpm start` and a `ci-fixer fix` run on the same host, one Redis: the worker's reaper
 * destroys sandboxes of its own deployment whose owner is dead, and never the CLI's, whose owner has no
 * heartbeat because it needs none. The real worker, in-process, against a private redis-server.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadConfig } from '@ci-fixer/config';
import { createDriver, LABELS, MANAGED_BY } from '@ci-fixer/sandbox';
import { deploymentName } from '../../apps/worker/src/deployment.ts';
import { startWorker, type RunningWorker } from '../../apps/worker/src/worker.ts';
import { captureLogger } from '../support/logger.ts';
import { waitFor } from '../support/processes.ts';
import { startTestRedis } from '../support/redis.ts';
import { AttackTable } from './attack-table.ts';

const table = new AttackTable('local (ownership)');
let worker: RunningWorker | undefined;
const redis = await startTestRedis();

afterAll(async () => {
  await worker?.stop();
  await redis.stop();
  table.flush();
});

it("reaps a dead worker's sandbox of its deployment and leaves a CLI run's sandbox alone", async () => {
  const config = loadConfig({
    NODE_ENV: 'test',
    REDIS_URL: redis.url,
    SANDBOX_LOCAL_ROOT: mkdtempSync(path.join(os.tmpdir(), 'cif-owners-')),
    SANDBOX_EGRESS_ALLOW: '127.0.0.1:9',
    WORKER_HEARTBEAT_TTL_MS: '1000',
    WORKER_METRICS_PORT: '0',
  });
  const labels = (owner: string, deployment: string) => ({
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.owner]: owner,
    [LABELS.deployment]: deployment,
  });
  // What `ci-fixer fix` makes: its own deployment, owned by its own process, no heartbeat anywhere.
  const cli = await createDriver(config, 'cli');
  const cliSandbox = await cli.create({ labels: labels(`cli-${process.pid}`, 'cli') });
  // A sandbox of a worker of this deployment that died without a trace.
  const deployment = deploymentName(config);
  const workers = await createDriver(config, deployment);
  const orphan = await workers.create({ labels: labels('worker-that-died', deployment) });

  const log = captureLogger('worker');
  worker = await startWorker(config, log.logger);
  await waitFor('the reaper to destroy the dead worker’s sandbox', async () =>
    (await workers.list()).some((info) => info.id === orphan.id) ? undefined : true,
  );
  expect((await cli.list()).map((info) => info.id)).toEqual([cliSandbox.id]);
  expect((await cliSandbox.exec(['echo', 'still here'])).stdout).toBe('still here\n');
  table.record("reap another deployment's (the CLI's) sandbox", 'blocked');
  await cliSandbox.destroy();
  await cli.close();
  await workers.close();
});

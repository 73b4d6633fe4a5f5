import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from '@ci-fixer/config';
import { type FixJobData, type FixResult } from '@ci-fixer/contract';
import { CANCELLED_REASON, QUEUE_NAME, QUEUE_PREFIX, subscribeToCancellations } from '@ci-fixer/queue';
import type { Logger } from '@ci-fixer/logger';
import {
  createDriver,
  expandEgress,
  LABELS,
  reapOrphans,
  toLabelValue,
  type SandboxDriver,
} from '@ci-fixer/sandbox';
import { deploymentName } from './deployment.ts';
import { FinishedRuns } from './finished-runs.ts';
import { Heartbeat } from './heartbeat.ts';
import { createWorkerMetrics, serveMetrics } from './metrics.ts';
import { ABORT_REASONS, createProcessor } from './processor.ts';

export interface RunningWorker {
  readonly id: string;
  readonly driver: SandboxDriver;
  /**
   * Stops taking jobs, lets running ones finish within the grace period, then hands the rest back to the
   * queue and destroys their sandboxes.
   */
  stop(): Promise<void>;
}

/** A worker: BullMQ consumer, heartbeat, sandbox reaper and cancellation listener, all on one Redis. */
export async function startWorker(config: Config, baseLogger: Logger): Promise<RunningWorker> {
  const id = toLabelValue(`${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`);
  const logger = baseLogger.child({ workerId: id });
  const deployment = deploymentName(config);
  const ownership = { [LABELS.deployment]: deployment };
  const driver = await createDriver(config, deployment);
  // Fail at start, saying what is missing (permissions, engine, isolation), rather than on the first job.
  const preflight = await driver.preflight();
  for (const warning of preflight.warnings) logger.warn(warning);
  if (preflight.cleared?.length)
    logger.info('cleared sandboxes of dead owners on this host', { sandboxes: preflight.cleared });
  if (!config.CI_FIXER_JOB_SIGNING_KEY)
    logger.warn(
      'CI_FIXER_JOB_SIGNING_KEY is not set: job signatures are not checked, so whoever can write to Redis can change what a job runs',
    );
  const egress = await expandEgress(config.SANDBOX_EGRESS_ALLOW);

  // BullMQ workers block on Redis and must retry forever rather than fail a command.
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  const subscriber = redis.duplicate();
  redis.on('error', (error) => logger.warn('redis connection error', { error: error.message }));
  subscriber.on('error', (error) => logger.warn('redis subscriber error', { error: error.message }));

  const heartbeat = new Heartbeat(redis, id, config.WORKER_HEARTBEAT_TTL_MS);
  await heartbeat.start();

  let reapingPaused = false;
  const reap = async () => {
    // Right after start or a Redis outage every lease may have lapsed: judge nobody until ours has been
    // renewed without a gap for a full TTL (heartbeat.ts).
    if (!heartbeat.canJudgeOthers()) {
      if (!reapingPaused)
        logger.info('reaping paused until this worker has been connected to Redis for a heartbeat TTL');
      reapingPaused = true;
      return;
    }
    if (reapingPaused) logger.info('reaping resumed');
    reapingPaused = false;
    try {
      const report = await reapOrphans(driver, {
        isOwnerAlive: (owner) => heartbeat.isOwnerAlive(owner),
        // A sandbox made just now may belong to a worker whose first beat is in flight.
        minAgeMs: config.WORKER_HEARTBEAT_TTL_MS,
        selector: ownership,
      });
      if (report.reaped.length > 0)
        logger.info('reaped sandboxes of dead workers', { sandboxes: report.reaped });
      for (const failure of report.failed) logger.warn('could not reap sandbox', failure);
    } catch (error) {
      logger.error('reaper failed', { error });
    }
  };
  // The first round comes one TTL after start, the earliest a missing lease is evidence.
  const reaper = setInterval(() => void reap(), config.WORKER_HEARTBEAT_TTL_MS);
  reaper.unref();

  const metrics = createWorkerMetrics();
  const metricsServer =
    config.WORKER_METRICS_PORT > 0
      ? serveMetrics(metrics, config.WORKER_METRICS_PORT, config.WORKER_METRICS_HOST).on('error', (error) =>
          logger.error('worker metrics cannot listen', {
            error: error.message,
            port: config.WORKER_METRICS_PORT,
          }),
        )
      : undefined;

  const finishedRuns = new FinishedRuns(redis, {
    ...(config.CI_FIXER_JOB_SIGNING_KEY ? { signingKey: config.CI_FIXER_JOB_SIGNING_KEY } : {}),
    ttlSeconds: config.JOB_RETENTION_SECONDS,
  });
  const worker = new Worker<FixJobData, FixResult>(
    QUEUE_NAME,
    createProcessor({
      config,
      driver,
      redis,
      logger,
      workerId: id,
      ownership,
      egress,
      finishedRuns,
      metrics,
    }),
    {
      connection: redis.duplicate(),
      prefix: QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      lockDuration: config.WORKER_LOCK_DURATION_MS,
      stalledInterval: config.WORKER_LOCK_DURATION_MS,
      maxStalledCount: config.WORKER_MAX_STALLS,
    },
  );
  worker.on('failed', (job, error) => {
    logger.warn('job failed', { jobId: job?.id, attemptsMade: job?.attemptsMade, error: error.message });
    const final = !job || error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (final) metrics.fixJobs.inc({ outcome: error.message === CANCELLED_REASON ? 'cancelled' : 'failed' });
  });
  worker.on('completed', (job) => {
    finishedRuns
      .forget(job.id!)
      .catch((error: Error) => logger.warn('could not drop a finished run record', { jobId: job.id, error }));
  });
  worker.on('error', (error) => logger.error('worker error', { error }));

  await subscribeToCancellations(subscriber, (jobId) => {
    if (worker.cancelJob(jobId, ABORT_REASONS.cancelled)) logger.info('cancelling running job', { jobId });
  });
  await worker.waitUntilReady();
  logger.info('worker started', {
    driver: driver.name,
    isolation: preflight.isolation,
    deployment,
    egress,
    concurrency: config.WORKER_CONCURRENCY,
    queue: `${QUEUE_PREFIX}:${QUEUE_NAME}`,
  });

  let stopped: Promise<void> | undefined;
  const stop = async () => {
    const graceMs = config.WORKER_SHUTDOWN_GRACE_SECONDS * 1000;
    logger.info('worker stopping: no new jobs; running jobs may finish', { graceSeconds: graceMs / 1000 });
    const grace = setTimeout(() => {
      logger.warn('grace period over: handing running jobs back to the queue');
      worker.cancelAllJobs(ABORT_REASONS.shutdown);
    }, graceMs);
    await worker.close();
    clearTimeout(grace);
    clearInterval(reaper);
    metricsServer?.close();
    await heartbeat.stop().catch(() => {});
    subscriber.disconnect();
    redis.disconnect();
    await driver.close();
    logger.info('worker stopped');
  };
  return {
    id,
    driver,
    stop: () => (stopped ??= stop()),
  };
}

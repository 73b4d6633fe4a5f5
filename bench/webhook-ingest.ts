/**
 * Webhook ingest: signed `workflow_run` deliveries against the real API (signature check, delivery dedupe,
 * loop guard, queue.add) next to a bare Express endpoint that only parses JSON and calls queue.add, both
 * on a real Redis: a private redis-server the benchmark starts (and empties between runs), never a Redis
 * it did not start. The servers run in a child process so that the load generator does not share their
 * event loop. Writes the "Webhook ingest" section of docs/benchmarks.md.
 *
 *   node bench/webhook-ingest.ts            # run and write docs/benchmarks.md
 */
import { createHmac } from 'node:crypto';
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import autocannon, { type Result } from 'autocannon';
import express from 'express';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '@ci-fixer/config';
import { COMMAND_FROM_SOURCE, type FixJobData } from '@ci-fixer/contract';
import { QUEUE_NAME, QUEUE_PREFIX } from '@ci-fixer/queue';
import { createLogger } from '@ci-fixer/logger';
import { createApp } from '../apps/api/src/app.ts';
import { FixQueue } from '../apps/api/src/fix-queue.ts';
import { decideGitHubEvent } from '../apps/api/src/webhooks/github.ts';
import { startTestRedis } from '../test/support/redis.ts';

const SECRET = 'bench-webhook-secret';
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const DOCS = path.resolve(import.meta.dirname, '../docs/benchmarks.md');

if (process.argv[2] === '--serve') await serve(process.argv[3]!);
else await measure();

/** Child: the API and the baseline, each on its own port, on the parent's Redis; reports the ports. */
async function serve(REDIS_URL: string): Promise<void> {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    REDIS_URL,
    CI_FIXER_API_TOKEN: 'bench-token-0123456789',
    GITHUB_WEBHOOK_SECRET: SECRET,
    FORGE_MAX_ATTEMPTS_PER_CHANGE: '100',
    // Every delivery is for the same repository; the benchmark measures ingest, not the quota.
    API_MAX_QUEUED_PER_REPO: '100000',
    API_MAX_QUEUED_PER_INSTALLATION: '1000000',
  });
  const redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  await new Promise((resolve) => redis.once('ready', resolve));
  const queue = new FixQueue(QUEUE_NAME, { connection: redis, prefix: QUEUE_PREFIX }, undefined, {
    maxQueuedPerRepo: config.API_MAX_QUEUED_PER_REPO,
    maxQueuedPerInstallation: config.API_MAX_QUEUED_PER_INSTALLATION,
  });
  const logger = createLogger({ service: 'bench', level: 'error' });
  const api = createApp({ config, token: config.CI_FIXER_API_TOKEN!, queue, redis, logger });

  // The floor: parse the JSON and add the same job (same data, same id scheme) — no signature, dedupe or guard.
  const baselineQueue = new Queue<FixJobData>(`${QUEUE_NAME}-baseline`, {
    connection: redis,
    prefix: QUEUE_PREFIX,
  });
  const baseline = express();
  baseline.post('/add', express.json({ limit: '5mb' }), async (req, res) => {
    const run = req.body.workflow_run;
    const decision = decideGitHubEvent('workflow_run', req.body, 'baseline');
    if (decision.kind !== 'candidate') throw new Error('the benchmark payload must be a failed run');
    const { source, cloneUrl } = decision.candidate;
    const data: FixJobData = {
      request: { repo: { url: cloneUrl, sha: source.headSha }, command: COMMAND_FROM_SOURCE },
      submittedAt: new Date().toISOString(),
      source,
    };
    const job = await baselineQueue.add('fix', data, { jobId: `gh-${run.id}-${run.run_attempt}` });
    res.status(202).json({ status: 'queued', jobId: job.id });
  });

  const listen = (app: express.Express) =>
    new Promise<number>((resolve) => {
      const server = app.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    });
  process.once('SIGINT', () => process.exit(0));
  process.send!({ api: await listen(api), baseline: await listen(baseline) });
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  total: number;
}

async function measure(): Promise<void> {
  // Other work on the machine shows up in tail latency; the report states how busy it was.
  const loadBefore = os.loadavg()[0]!.toFixed(1);
  const server = await startTestRedis();
  const redis = new Redis(server.url);
  const child = fork(import.meta.filename, ['--serve', server.url], {
    stdio: 'inherit',
    execArgv: process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=/tmp/cif-prof'] : [],
  });
  const ports = await new Promise<{ api: number; baseline: number }>((resolve) =>
    child.once('message', resolve),
  );

  const payload = realPayload();
  // Every delivery is a new run on a new pull request, so that neither dedupe nor the loop guard short-cuts
  // it. They are signed up front and both targets get the same requests, so the load generator's own cost
  // is the same for both.
  const deliveries = Array.from({ length: REQUESTS }, (_, index) => {
    const body = payload
      .replace('"id":289782451', `"id":${1_000_000 + index}`)
      .replace('"number":2,', `"number":${index + 1},`);
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'workflow_run',
        'x-github-delivery': `bench-${process.pid}-${index}`,
        'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
      },
    };
  });
  const target = (path: string) => {
    let next = 0;
    return {
      method: 'POST',
      path,
      setupRequest: (request: Record<string, unknown>) => ({ ...request, ...deliveries[next++ % REQUESTS] }),
    };
  };

  const run = async (port: number, path: string, rate?: number): Promise<Figures> => {
    await redis.flushdb();
    const result: Result = await autocannon({
      url: `http://127.0.0.1:${port}`,
      connections: 20,
      amount: rate ? Math.min(REQUESTS, rate * 10) : REQUESTS,
      ...(rate ? { overallRate: rate } : {}),
      requests: [target(path) as never],
    });
    return {
      rps: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      non2xx: result.non2xx,
      total: result.requests.total,
    };
  };

  // Warm-up, then the saturated runs and the fixed-rate runs, alternating targets.
  await run(ports.api, '/webhooks/github', 500);
  await run(ports.baseline, '/add', 500);
  const maxApi = await run(ports.api, '/webhooks/github');
  const maxBare = await run(ports.baseline, '/add');
  const rateApi = await run(ports.api, '/webhooks/github', 1000);
  const rateBare = await run(ports.baseline, '/add', 1000);
  child.kill('SIGINT');
  await new Promise((resolve) => child.once('exit', resolve));
  redis.disconnect();
  await server.stop();

  const row = (name: string, figures: Figures) =>
    `| ${name} | ${figures.rps.toFixed(0)} | ${figures.p50} | ${figures.p99} | ${figures.total} | ${figures.non2xx} |`;
  const section = [
    '<!-- webhook-ingest:start -->',
    '## Webhook ingest',
    '',
    'Signed `workflow_run` deliveries (the real `@octokit/webhooks-examples` payload, ~' +
      `${Math.round(Buffer.byteLength(payload) / 1024)} KB, a new run id, pull request and delivery id each) against ` +
      '`POST /webhooks/github` — HMAC check over the raw body, delivery dedupe (`SET NX`), loop guard (`INCR`), `queue.add` — ' +
      'next to a bare Express endpoint that only parses the JSON and calls `queue.add` with the same job (same data and id scheme). Both on a private Redis 7 ' +
      `(Debian's redis-server) on loopback, servers in one child process, autocannon with 20 connections, ${REQUESTS} requests per saturated run and 10 s per fixed-rate run.`,
    '',
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}. ` +
      `1-minute load average before the run: ${loadBefore}. Reproduce with \`node bench/webhook-ingest.ts\`.`,
    '',
    '| run | requests/s | p50 ms | p99 ms | requests | non-2xx |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    row('webhook, saturated', maxApi),
    row('bare queue.add, saturated', maxBare),
    row('webhook, 1,000 req/s offered', rateApi),
    row('bare queue.add, 1,000 req/s offered', rateBare),
    '',
    `Throughput ratio webhook / bare: **${(maxApi.rps / maxBare.rps).toFixed(2)}×** (target ≥ 0.8×). ` +
      `p99 at 1,000 req/s offered: **${rateApi.p99} ms** (target < 25 ms).`,
    '<!-- webhook-ingest:end -->',
  ].join('\n');
  writeSection(section);
  console.log(section);
}

function realPayload(): string {
  const require = createRequire(import.meta.url);
  // Loose JSON from the examples package; only a few fields are touched.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type Json = Record<string, any>;
  const groups = require('@octokit/webhooks-examples/api.github.com/index.json') as {
    name: string;
    examples: Json[];
  }[];
  const example = structuredClone(
    groups
      .find((group) => group.name === 'workflow_run')!
      .examples.find((e) => e.action === 'completed' && e.workflow_run.pull_requests.length > 0)!,
  );
  example.workflow_run.conclusion = 'failure';
  return JSON.stringify(example);
}

function writeSection(section: string): void {
  const current = existsSync(DOCS) ? readFileSync(DOCS, 'utf8') : '# Benchmarks\n';
  const pattern = /<!-- webhook-ingest:start -->[\s\S]*?<!-- webhook-ingest:end -->/;
  const next = pattern.test(current)
    ? current.replace(pattern, section)
    : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(DOCS, next);
}

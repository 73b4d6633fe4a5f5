/**
 * The job list at scale: `GET /v1/fix-jobs?limit=50` against the real API process with 100,000 finished jobs
 * retained (plus a few hundred queued), latency per request and the API's RSS over the run.
 *
 * The jobs are written straight into Redis as BullMQ stores them (a hash per job with its name, data,
 * timestamps, attempts, returnvalue or failedReason, and the API's list summary; the completed and failed
 * sorted sets scored by finishedOn; the wait list), because running 100,000 jobs through workers would take
 * an hour and measure the workers. Payloads are realistic, not minimal: 4 KB of CI log in each job's data
 * and a patch with step logs in each result, none of which the list may read.
 *
 * Run: `node bench/list-jobs.ts [finishedJobs] [requests]` (defaults 100000 and 1000). Starts a private
 * redis-server of its own (never touches a Redis it did not start).
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { QUEUE_NAME, QUEUE_PREFIX } from '@ci-fixer/queue';
import { SUMMARY_FIELD } from '../apps/api/src/fix-queue.ts';
import { freePort, startApp, waitFor } from '../test/support/processes.ts';
import { startTestRedis } from '../test/support/redis.ts';
import { machine, percentile, writeSection } from './report.ts';

const finishedJobs = Number(process.argv[2] ?? 100_000);
const requests = Number(process.argv[3] ?? 1000);
const queuedJobs = 300;
const token = 'bench-token-0123456789abcdef';
const headers = { authorization: `Bearer ${token}` };

const redis = await startTestRedis();
const client = new Redis(redis.url);
const key = (suffix: string) => `${QUEUE_PREFIX}:${QUEUE_NAME}:${suffix}`;

const log = 'npm ERR! lint failed\n'.repeat(200); // ~4 KB of CI log per job
const patch = `diff --git a/src/a.js b/src/a.js\n${'-let x = 1;\n+const x = 1;\n'.repeat(40)}`;
const steps = [
  {
    stage: 'reproducing',
    command: 'npm run lint',
    exitCode: 1,
    durationMs: 812,
    logTail: log.slice(0, 2048),
  },
  { stage: 'verifying', command: 'npm run lint', exitCode: 0, durationMs: 640, logTail: 'ok\n' },
];
const started = Date.now() - finishedJobs * 1000;
const outcomes = ['fixed', 'unfixable', 'not_reproducible', 'failed'] as const;

console.log(`writing ${finishedJobs} finished and ${queuedJobs} queued jobs…`);
for (let from = 0; from < finishedJobs + queuedJobs; from += 1000) {
  const pipeline = client.pipeline();
  for (let i = from; i < Math.min(from + 1000, finishedJobs + queuedJobs); i++) {
    const id = `fx-bench-${String(i).padStart(7, '0')}`;
    const request = {
      repo: { url: `https://github.com/acme/repo-${i % 500}`, sha: 'a'.repeat(40) },
      command: 'npm run lint',
    };
    const timestamp = started + i * 1000;
    const fields: Record<string, string> = {
      name: 'fix',
      data: JSON.stringify({
        request: { ...request, logs: log },
        submittedAt: new Date(timestamp).toISOString(),
      }),
      opts: '{"attempts":3}',
      timestamp: String(timestamp),
      delay: '0',
      priority: '0',
      [SUMMARY_FIELD]: JSON.stringify(request),
    };
    if (i >= finishedJobs) {
      pipeline.hset(key(id), fields).lpush(key('wait'), id);
      continue;
    }
    const outcome = outcomes[i % outcomes.length]!;
    const finishedOn = timestamp + 30_000;
    Object.assign(fields, { processedOn: String(timestamp + 500), finishedOn: String(finishedOn), atm: '1' });
    if (outcome === 'failed') fields.failedReason = 'the clone failed: repository not found';
    else
      fields.returnvalue = JSON.stringify({
        outcome,
        reason: `the command passes after eslint-fix`,
        patch,
        steps,
        diagnosis: null,
      });
    pipeline.hset(key(id), fields).zadd(key(outcome === 'failed' ? 'failed' : 'completed'), finishedOn, id);
  }
  await pipeline.exec();
}
const memory = /used_memory_human:(\S+)/.exec(await client.info('memory'))![1];

const port = await freePort();
const api = startApp('api', {
  NODE_ENV: 'test',
  LOG_LEVEL: 'warn',
  REDIS_URL: redis.url,
  PORT: String(port),
  CI_FIXER_API_TOKEN: token,
  JOB_RETENTION_COUNT: String(finishedJobs),
  ...(process.env.BENCH_API_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_API_NODE_OPTIONS } : {}),
  // One client sending thousands of requests is what is measured here, not the rate limits.
  API_TOKEN_REQUESTS_PER_WINDOW: '1000000',
  API_ADDRESS_REQUESTS_PER_WINDOW: '1000000',
});
const base = `http://127.0.0.1:${port}`;
await waitFor('the API to be ready', async () => ((await fetch(`${base}/readyz`)).ok ? true : undefined));
const rss = () =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${api.process.pid}/status`, 'utf8'))![1]) / 1024;

async function timed(
  path: string,
): Promise<[number, { items: unknown[]; nextCursor: string | null; total?: number }]> {
  const start = performance.now();
  const res = await fetch(`${base}${path}`, { headers });
  const body = (await res.json()) as { items: unknown[]; nextCursor: string | null; total?: number };
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(body)}`);
  return [performance.now() - start, body];
}

/** The API's V8 heap, from its own metrics: tells a heap that grows (a leak) from RSS the allocator keeps. */
async function heapMb(): Promise<{ used: number; total: number }> {
  const text = await (await fetch(`${base}/metrics`, { headers })).text();
  const value = (name: string) =>
    Number(new RegExp(`^ci_fixer_api_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
  return { used: value('nodejs_heap_size_used_bytes'), total: value('nodejs_heap_size_total_bytes') };
}

// Warm up (JIT, connections, script cache); RSS is taken after, as a long-running API would be.
for (let i = 0; i < 50; i++) await timed('/v1/fix-jobs?limit=50');
const rssBefore = rss();
const heapBefore = await heapMb();
let rssPeak = rssBefore;
const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rss())), 50);

const scenarios: [string, () => AsyncGenerator<string>][] = [
  [
    'first page, `limit=50`',
    async function* () {
      for (let i = 0; i < requests; i++) yield '/v1/fix-jobs?limit=50';
    },
  ],
  [
    'following `nextCursor`, `limit=50` (deep pages)',
    async function* () {
      let cursor: string | null = null;
      for (let i = 0; i < requests; i++) {
        const path: string = `/v1/fix-jobs?limit=50${cursor ? `&cursor=${cursor}` : ''}`;
        yield path;
        cursor = lastCursor;
      }
    },
  ],
  [
    '`status=failed&limit=50` (one job in four)',
    async function* () {
      for (let i = 0; i < requests; i++) yield '/v1/fix-jobs?status=failed&limit=50';
    },
  ],
  [
    '`status=fixed&limit=50` (mixed in with the other outcomes)',
    async function* () {
      for (let i = 0; i < requests; i++) yield '/v1/fix-jobs?status=fixed&limit=50';
    },
  ],
];

let lastCursor: string | null = null;
const rows: string[] = [];
let total: number | undefined;
for (const [name, paths] of scenarios) {
  const times: number[] = [];
  lastCursor = null;
  for await (const path of paths()) {
    const [ms, body] = await timed(path);
    times.push(ms);
    lastCursor = body.nextCursor;
    // Past the last job the cursor walk starts over; only that last page may be short.
    if (body.items.length !== 50 && body.nextCursor !== null)
      throw new Error(`${path} gave ${body.items.length} items, not 50`);
    total ??= body.total;
  }
  const row = `| ${name} | ${percentile(times, 50).toFixed(1)} | ${percentile(times, 99).toFixed(1)} | ${Math.max(...times).toFixed(1)} | ${times.length} |`;
  console.log(row);
  rows.push(row);
}
clearInterval(sampler);
const rssAfter = rss();
const heapAfter = await heapMb();
console.log(
  `RSS ${rssBefore.toFixed(0)} → peak ${rssPeak.toFixed(0)} → ${rssAfter.toFixed(0)} MB; heap used ${heapBefore.used.toFixed(0)} → ${heapAfter.used.toFixed(0)} MB, total ${heapBefore.total.toFixed(0)} → ${heapAfter.total.toFixed(0)} MB`,
);

const load = (await import('node:os')).loadavg()[0]!.toFixed(1);
await writeSection(
  'list-jobs',
  `## Job list at scale

\`GET /v1/fix-jobs\` against the real API process (\`apps/api/src/main.ts\`) and a private Redis 7 on loopback, with
${finishedJobs.toLocaleString('en')} finished jobs retained (fixed, unfixable, not reproducible and failed in turn) and
${queuedJobs} queued, each job carrying 4 KB of CI log and each result a patch and step logs. Requests one at a time
from one client; each must return 50 items. Machine: ${machine()}. Load before the run: ${load}. Redis held ${memory}.
Reproduce with \`node bench/list-jobs.ts\`.

| request | p50 ms | p99 ms | max ms | requests |
| --- | ---: | ---: | ---: | ---: |
${rows.join('\n')}

API RSS: ${rssBefore.toFixed(0)} MB after warm-up, ${rssPeak.toFixed(0)} MB at most during the run, ${rssAfter.toFixed(0)} MB after
(growth **${(rssPeak - rssBefore).toFixed(1)} MB**; target < 20 MB). \`total\` reported: ${total}. Target: \`limit=50\` p99 < 50 ms.
The list reads BullMQ's own lists and sorted sets a page at a time and, per job, only a summary assembled inside
Redis by a script (no job payload crosses the wire). Before this, the same request loaded up to 12,000 full jobs
(issue 10 measured 9.3 s and +173 MB for \`limit=1\` with 100 jobs of 510 KB).`,
);

await api.stop();
client.disconnect();
await redis.stop();

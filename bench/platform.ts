/**
 * Platform overhead with the local driver: from the API accepting a job to the first command starting in
 * its sandbox, over many jobs submitted one at a time; and the idle RSS of the API and worker processes.
 *
 * Run: `node bench/platform.ts [jobs]` (default 200). Starts a private redis-server of its own (never
 * touches a Redis it did not start).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startApp, waitFor } from '../test/support/processes.ts';
import { startTestRedis } from '../test/support/redis.ts';
import { machine, percentile, writeSection } from './report.ts';

const jobs = Number(process.argv[2] ?? 200);
const token = 'bench-token-0123456789abcdef';
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

const repo = mkdtempSync(path.join(os.tmpdir(), 'cif-bench-repo-'));
writeFileSync(path.join(repo, 'README.md'), 'bench\n');
const git = (...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@example.com', ...args], {
    cwd: repo,
  });
git('init', '-q');
git('add', '-A');
git('commit', '-qm', 'bench');

const port = await freePort();
const redis = await startTestRedis();
const env = {
  REDIS_URL: redis.url,
  PORT: String(port),
  CI_FIXER_API_TOKEN: token,
  CI_FIXER_ALLOW_FILE_REPOS: 'true',
  LOG_LEVEL: 'warn',
};
const api = startApp('api', env);
const worker = startApp('worker', env);
const base = `http://127.0.0.1:${port}`;
await waitFor('the API', async () => ((await fetch(`${base}/readyz`)).ok ? true : undefined));
await new Promise((resolve) => setTimeout(resolve, 3000));
const rss = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const idle = { api: rss(api.process.pid!), worker: rss(worker.process.pid!) };

const overheads: number[] = [];
for (let index = 0; index < jobs; index++) {
  const res = await fetch(`${base}/v1/fix-jobs`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ repo: { url: repo }, command: `true # ${index}` }),
  });
  if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const view = await waitFor(
    'the job',
    async () => {
      const current = (await (await fetch(`${base}/v1/fix-jobs/${id}`, { headers })).json()) as {
        status: string;
        createdAt: string;
        steps: { startedAt: string }[];
      };
      return ['queued', 'running'].includes(current.status) ? undefined : current;
    },
    { intervalMs: 5 },
  );
  if (!view.steps?.[0])
    throw new Error(`job ${id} ran no command: ${JSON.stringify(view)}\n${api.output().slice(-3000)}`);
  overheads.push(Date.parse(view.steps[0].startedAt) - Date.parse(view.createdAt));
}
await Promise.all([api.stop(), worker.stop()]);
await redis.stop();

const row = (values: number[]) => `${percentile(values, 50)} ms | ${percentile(values, 99)} ms`;
await writeSection(
  'platform',
  `## Platform overhead (local driver)

Enqueue (API accepted the job) → first command started in the sandbox, ${jobs} jobs submitted one at a
time through the real API and worker processes, a private Redis on loopback. Machine: ${machine()}.

| metric | p50 | p99 |
| --- | --- | --- |
| enqueue → first sandbox command | ${row(overheads)} |

Idle RSS after start: API ${idle.api.toFixed(0)} MB, worker ${idle.worker.toFixed(0)} MB.

Run: \`node bench/platform.ts [jobs]\`.`,
);
console.log({ p50: percentile(overheads, 50), p99: percentile(overheads, 99), idle });

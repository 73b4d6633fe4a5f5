import http from 'node:http';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FixResult } from '@ci-fixer/contract';

export interface WorkerMetrics {
  registry: Registry;
  fixJobs: Counter<'outcome'>;
  stageSeconds: Histogram<'stage'>;
  sandboxCreateSeconds: Histogram;
  forgeApiErrors: Counter<'forge' | 'status'>;
  reports: Counter<'forge' | 'mode' | 'status'>;
}

/** The worker's Prometheus metrics, in a registry of their own. */
export function createWorkerMetrics(): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ci_fixer_worker_' });
  const registers = [registry];
  return {
    registry,
    fixJobs: new Counter({
      name: 'ci_fixer_fix_jobs_total',
      help: 'Fix jobs the worker finished, by outcome (fixed, not_reproducible, unfixable, failed, cancelled).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    stageSeconds: new Histogram({
      name: 'ci_fixer_stage_duration_seconds',
      help: 'Duration of the commands of each fix stage.',
      labelNames: ['stage'] as const,
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
      registers,
    }),
    sandboxCreateSeconds: new Histogram({
      name: 'ci_fixer_sandbox_create_seconds',
      help: 'Time to create a sandbox.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    forgeApiErrors: new Counter({
      name: 'ci_fixer_forge_api_errors_total',
      help: 'Failed forge API calls, retried or not, by forge and HTTP status (0: network error).',
      labelNames: ['forge', 'status'] as const,
      registers,
    }),
    reports: new Counter({
      name: 'ci_fixer_forge_reports_total',
      help: 'Results reported back to forges, by mode and status (reported, skipped, failed).',
      labelNames: ['forge', 'mode', 'status'] as const,
      registers,
    }),
  };
}

export function recordResult(metrics: WorkerMetrics, result: FixResult): void {
  metrics.fixJobs.inc({ outcome: result.outcome });
  for (const step of result.steps)
    metrics.stageSeconds.observe({ stage: step.stage }, step.durationMs / 1000);
}

/** GET /metrics on its own port; the worker serves nothing else. */
export function serveMetrics(metrics: WorkerMetrics, port: number, host: string): http.Server {
  return http
    .createServer(async (req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
        return;
      }
      try {
        const body = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body);
      } catch (error) {
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end(`metrics failed: ${(error as Error).message}\n`);
      }
    })
    .listen(port, host);
}

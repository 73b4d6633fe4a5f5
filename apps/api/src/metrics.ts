import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queue } from 'bullmq';

export const WEBHOOK_OUTCOMES = ['queued', 'ignored', 'duplicate', 'rejected', 'disabled', 'error'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

export interface ApiMetrics {
  registry: Registry;
  webhooks: Counter<'source' | 'outcome'>;
}

const QUEUE_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;

/** The API's Prometheus metrics, in a registry of their own so that several apps can live in one process. */
export function createApiMetrics(queue: Queue): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ci_fixer_api_' });
  const webhooks = new Counter({
    name: 'ci_fixer_webhooks_total',
    help: 'Webhook deliveries by source (github, gitlab) and outcome.',
    labelNames: ['source', 'outcome'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'ci_fixer_queue_jobs',
    help: 'Fix jobs in the queue by state, read from Redis at scrape time.',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = await queue.getJobCounts(...QUEUE_STATES);
      for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
    },
  });
  return { registry, webhooks };
}

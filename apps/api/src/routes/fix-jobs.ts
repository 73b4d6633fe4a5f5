import { randomBytes } from 'node:crypto';
import { Router, type Request } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  JOB_STATUSES,
  checkRepoUrl,
  dedupeKey,
  fixRequestSchema,
  type FixJobData,
  type RepoPolicy,
} from '@ci-fixer/contract';
import { cancelKey, requestCancellation } from '@ci-fixer/queue';
import { QueueQuotaExceeded, type FixQueue } from '../fix-queue.ts';
import { JobLister } from '../job-list.ts';
import { toJobView, type JobView } from '../job-view.ts';
import { HttpProblem } from '../problem.ts';
import type { RedisReachability } from '../redis-reachability.ts';

export interface FixJobRoutesOptions {
  queue: FixQueue;
  redis: Redis;
  reachability: RedisReachability;
  repoPolicy: RepoPolicy;
  /** How long a cancellation mark outlives the job, in seconds. */
  cancelMarkTtlSeconds: number;
  /** Largest job payload enqueued, in bytes of its JSON (API_MAX_JOB_BYTES). */
  maxJobBytes: number;
}

const listQuery = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(1024).optional(),
});

export function fixJobRoutes(options: FixJobRoutesOptions): Router {
  const { queue, redis } = options;
  const lister = new JobLister(queue, redis);
  const router = Router();

  // Fail fast and say so while Redis is away: nothing can be accepted or read without it.
  router.use((_req, _res, next) => {
    next(options.reachability.ready ? undefined : options.reachability.problem());
  });

  router.post('/', async (req, res) => {
    const request = parse(fixRequestSchema, requireJsonBody(req), 'request body');
    const repoCheck = checkRepoUrl(request.repo.url, options.repoPolicy);
    if (!repoCheck.ok) throw new HttpProblem(422, 'Repository Not Allowed', repoCheck.reason);
    request.repo.url = repoCheck.url; // git gets the normalised URL, never the one as sent

    const id = `fx-${randomBytes(10).toString('hex')}`;
    const data: FixJobData = { request, submittedAt: new Date().toISOString() };
    const bytes = Buffer.byteLength(JSON.stringify(data));
    if (bytes > options.maxJobBytes) {
      throw new HttpProblem(
        413,
        'Job Too Large',
        `the job would take ${bytes} bytes, over API_MAX_JOB_BYTES (${options.maxJobBytes}); send only the end of the CI log in \`logs\``,
      );
    }
    // Deduplication happens inside Redis in the same script that adds the job, so two racing
    // submissions cannot both start a sandbox. `add` resolves only after Redis acknowledged the job.
    const job = await queue
      .add('fix', data, { jobId: id, deduplication: { id: dedupeKey(request) } })
      .catch((error: unknown) => {
        throw error instanceof QueueQuotaExceeded ? quotaProblem(error) : error;
      });
    const created = job.id === id;
    const view = created ? undefined : await viewOf(job.id!);
    res
      .status(created ? 202 : 200)
      .location(`${req.baseUrl}/${job.id}`)
      .json({ id: job.id, status: view?.status ?? 'queued', ...(created ? {} : { deduplicated: true }) });
  });

  router.get('/', async (req, res) => {
    const query = parse(listQuery, req.query, 'query');
    res.json({ ...(await lister.list(query)), limit: query.limit });
  });

  router.get('/:id', async (req, res) => {
    res.json(await viewOf(req.params.id));
  });

  router.post('/:id/cancel', async (req, res) => {
    const job = await queue.getJob(req.params.id);
    if (!job) throw notFound(req.params.id);
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') {
      throw new HttpProblem(409, 'Already Finished', `job ${job.id} already finished; nothing to cancel`);
    }
    await requestCancellation(redis, job.id!, options.cancelMarkTtlSeconds);
    // Frees the deduplication key and the repository's quota place now, so it can be submitted again at once.
    await job.removeDeduplicationKey();
    await queue.releaseQuota(job.data, job.id!);
    res.status(202).json({ id: job.id, status: 'cancelled' });
  });

  async function viewOf(id: string): Promise<JobView> {
    const job = await queue.getJob(id);
    if (!job) throw notFound(id);
    const [state, mark] = await Promise.all([job.getState(), redis.get(cancelKey(job.id!))]);
    return toJobView(job, state, mark === '1');
  }

  return router;
}

function requireJsonBody(req: Request): unknown {
  if (!req.is('application/json')) {
    throw new HttpProblem(415, 'Unsupported Media Type', 'send the request body as application/json');
  }
  return req.body;
}

function parse<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const errors = parsed.error.issues.map((issue) => ({
    path: issue.path.join('.') || '(root)',
    message:
      issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message,
  }));
  throw new HttpProblem(
    400,
    'Invalid Request',
    `the ${what} is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
    { errors },
  );
}

/** 429 for a repository or installation at its quota; Retry-After is a guess, as a place frees when a job finishes. */
export function quotaProblem(error: QueueQuotaExceeded): HttpProblem {
  const retryAfterSeconds = 60;
  return new HttpProblem(
    429,
    'Too Many Requests',
    `${error.message}; retry after ${retryAfterSeconds} s`,
    { limit: error.limitName, max: error.limit, retryAfterSeconds },
    { 'Retry-After': String(retryAfterSeconds) },
  );
}

function notFound(id: string): HttpProblem {
  return new HttpProblem(
    404,
    'Not Found',
    `no fix job with id ${id}; finished jobs are kept only for a while`,
  );
}

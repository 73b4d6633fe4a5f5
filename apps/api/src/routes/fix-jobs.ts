import { randomBytes } from 'node:crypto';
import { Router, type Request } from 'express';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  JOB_STATUSES,
  cancelKey,
  checkRepoUrl,
  dedupeKey,
  fixRequestSchema,
  requestCancellation,
  type FixJobData,
  type JobStatus,
  type RepoPolicy,
} from '@ci-fixer/jobs';
import { toJobView, type JobView } from '../job-view.ts';
import { HttpProblem } from '../problem.ts';

export interface FixJobRoutesOptions {
  queue: Queue<FixJobData>;
  redis: Redis;
  repoPolicy: RepoPolicy;
  /** How long a cancellation mark outlives the job, in seconds. */
  cancelMarkTtlSeconds: number;
  /** How many jobs a list call scans at most; retention bounds this anyway. */
  listScanLimit: number;
}

// BullMQ keeps paused jobs in `wait`, so `waiting` covers them.
const QUEUED_STATES = ['waiting', 'prioritized', 'delayed', 'waiting-children'] as const;

const listQuery = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

export function fixJobRoutes(options: FixJobRoutesOptions): Router {
  const { queue, redis } = options;
  const router = Router();

  // Fail fast and say so while Redis is away: nothing can be accepted or read without it.
  router.use((_req, res, next) => {
    if (redis.status === 'ready') return next();
    res.setHeader('Retry-After', '5');
    next(
      new HttpProblem(
        503,
        'Service Unavailable',
        'Redis is unreachable; nothing was enqueued, try again shortly',
      ),
    );
  });

  router.post('/', async (req, res) => {
    const request = parse(fixRequestSchema, requireJsonBody(req), 'request body');
    const repoCheck = checkRepoUrl(request.repo.url, options.repoPolicy);
    if (!repoCheck.ok) throw new HttpProblem(422, 'Repository Not Allowed', repoCheck.reason);
    request.repo.url = repoCheck.url; // git gets the normalised URL, never the one as sent

    const id = `fx-${randomBytes(10).toString('hex')}`;
    const data: FixJobData = { request, submittedAt: new Date().toISOString() };
    // Deduplication happens inside Redis in the same script that adds the job, so two racing
    // submissions cannot both start a sandbox. `add` resolves only after Redis acknowledged the job.
    const job = await queue.add('fix', data, { jobId: id, deduplication: { id: dedupeKey(request) } });
    const created = job.id === id;
    const view = created ? undefined : await viewOf(job.id!);
    res
      .status(created ? 202 : 200)
      .location(`${req.baseUrl}/${job.id}`)
      .json({ id: job.id, status: view?.status ?? 'queued', ...(created ? {} : { deduplicated: true }) });
  });

  router.get('/', async (req, res) => {
    const query = parse(listQuery, req.query, 'query');
    const states = statesFor(query.status);
    const jobs = (await queue.getJobs(states, 0, options.listScanLimit - 1)).filter(Boolean);
    const views = await viewsOf(jobs);
    const matching = views
      .filter((view) => !query.status || view.status === query.status)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    res.json({
      items: matching.slice(query.offset, query.offset + query.limit),
      total: matching.length,
      limit: query.limit,
      offset: query.offset,
    });
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
    // Frees the deduplication key now, so the same request can be submitted again at once.
    await job.removeDeduplicationKey();
    res.status(202).json({ id: job.id, status: 'cancelled' });
  });

  async function viewOf(id: string): Promise<JobView> {
    const job = await queue.getJob(id);
    if (!job) throw notFound(id);
    return (await viewsOf([job]))[0]!;
  }

  async function viewsOf(jobs: Awaited<ReturnType<typeof queue.getJob>>[]): Promise<JobView[]> {
    const present = jobs.filter((job): job is NonNullable<typeof job> => Boolean(job));
    if (present.length === 0) return [];
    const [states, marks] = await Promise.all([
      Promise.all(present.map((job) => job.getState())),
      redis.mget(present.map((job) => cancelKey(job.id!))),
    ]);
    return present.map((job, index) => toJobView(job, states[index]!, marks[index] === '1'));
  }

  return router;
}

function statesFor(status: JobStatus | undefined) {
  switch (status) {
    case 'queued':
      return [...QUEUED_STATES];
    case 'running':
      return ['active' as const];
    case 'fixed':
    case 'not_reproducible':
    case 'unfixable':
      return ['completed' as const];
    case 'failed':
      return ['failed' as const];
    case 'cancelled':
      return ['failed' as const, 'active' as const, ...QUEUED_STATES];
    default:
      return [...QUEUED_STATES, 'active' as const, 'completed' as const, 'failed' as const];
  }
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

function notFound(id: string): HttpProblem {
  return new HttpProblem(
    404,
    'Not Found',
    `no fix job with id ${id}; finished jobs are kept only for a while`,
  );
}

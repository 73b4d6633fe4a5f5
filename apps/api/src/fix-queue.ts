import { createHash } from 'node:crypto';
import { Queue, type Job, type JobsOptions, type QueueOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { signJobData, type FixJobData } from '@ci-fixer/jobs';
import { LIMITS_PREFIX } from './limits.ts';

/** The job-hash field that holds what the job list shows of the request (see job-list.ts). */
export const SUMMARY_FIELD = 'cfx:summary';

export interface QueueLimits {
  /** Jobs one repository may have queued or running at once. */
  maxQueuedPerRepo: number;
}

/** A repository already has its share of the queue; nothing was enqueued. */
export class QueueQuotaExceeded extends Error {
  readonly repo: string;
  readonly limit: number;

  constructor(repo: string, limit: number) {
    super(
      `${repo} already has ${limit} fix jobs queued or running (API_MAX_QUEUED_PER_REPO); submit again once one finishes`,
    );
    this.repo = repo;
    this.limit = limit;
  }
}

// A reservation whose job hash is not there yet is kept this long: the job is being added right now.
const RESERVATION_GRACE_MS = 60_000;
// A repository that stops submitting leaves no key behind for longer than this.
const QUOTA_KEY_TTL_MS = 30 * 86_400_000;

/**
 * Counts a repository's unfinished jobs and reserves a place for one more, in one script, so replicas
 * racing for the last place cannot both win. The set holds the ids of the repository's jobs; a job whose
 * hash has `finishedOn` (completed or failed) or is gone (removed) no longer counts and is dropped.
 * A request that BullMQ will deduplicate into an unfinished job takes no place (answer 2): resubmitting
 * is answered with the existing job even at the quota.
 * KEYS[1] the repository's set, KEYS[2] the request's deduplication key (or a key that never exists);
 * ARGV: job key prefix, new job id, limit, now (ms), grace (ms), key TTL (ms).
 * The job keys are derived, not declared: like BullMQ's own scripts this needs one Redis, not a cluster.
 */
const RESERVE_SCRIPT = `
local prefix, id, limit, now, grace = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local existing = redis.call('GET', KEYS[2])
if existing and redis.call('EXISTS', prefix .. existing) == 1 then return 2 end
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local live = 0
for i = 1, #members, 2 do
  local member, at = members[i], tonumber(members[i + 1])
  local key = prefix .. member
  local finished = redis.call('HEXISTS', key, 'finishedOn') == 1
  local gone = redis.call('EXISTS', key) == 0 and at < now - grace
  if member ~= id and (finished or gone) then
    redis.call('ZREM', KEYS[1], member)
  elseif member ~= id then
    live = live + 1
  end
end
if live >= limit then return 0 end
redis.call('ZADD', KEYS[1], now, id)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
`;

// Writes the summary only into a job hash that exists: a job removed meanwhile must not come back as a stub.
const SUMMARY_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
`;

export function quotaKey(repoUrl: string): string {
  return `${LIMITS_PREFIX}queued:${createHash('sha256').update(repoUrl).digest('hex').slice(0, 32)}`;
}

/**
 * The fix-job queue as the API writes to it. Both the REST route and the webhooks add through here, so
 * every job is:
 * - signed for the id the API chose (CI_FIXER_JOB_SIGNING_KEY), so workers can tell the API's jobs from
 *   data changed in Redis;
 * - within its repository's quota of unfinished jobs (API_MAX_QUEUED_PER_REPO), else QueueQuotaExceeded;
 * - given a small summary field, so the job list never reads the payload (logs can be hundreds of KB).
 */
export class FixQueue extends Queue<FixJobData> {
  private readonly signingKey: string | undefined;
  private readonly limits: QueueLimits;
  private readonly redis: Redis;

  /** `options.connection` must be an ioredis client: the quota and summary scripts run on it too. */
  constructor(
    name: string,
    options: QueueOptions & { connection: Redis },
    signingKey: string | undefined,
    limits: QueueLimits,
  ) {
    super(name, options);
    this.signingKey = signingKey;
    this.limits = limits;
    this.redis = options.connection;
  }

  override async add(
    name: 'fix',
    data: FixJobData,
    options: JobsOptions & { jobId: string },
  ): Promise<Job<FixJobData>> {
    const client = this.redis;
    const repo = data.request.repo.url;
    const quota = quotaKey(repo);
    const dedupe = options.deduplication?.id;
    const reserved = await client.eval(
      RESERVE_SCRIPT,
      2,
      quota,
      dedupe ? `${this.keys.de}:${dedupe}` : `${LIMITS_PREFIX}no-deduplication`,
      this.toKey(''),
      options.jobId,
      this.limits.maxQueuedPerRepo,
      Date.now(),
      RESERVATION_GRACE_MS,
      QUOTA_KEY_TTL_MS,
    );
    if (reserved === 0) throw new QueueQuotaExceeded(repo, this.limits.maxQueuedPerRepo);

    const signed = this.signingKey ? signJobData(options.jobId, data, this.signingKey) : data;
    let job: Job<FixJobData>;
    try {
      job = await super.add(name, signed, options);
    } catch (error) {
      await client.zrem(quota, options.jobId).catch(() => {});
      throw error;
    }
    if (job.id !== options.jobId) {
      // Deduplicated into an existing job, which holds a place of its own.
      await client.zrem(quota, options.jobId);
    } else {
      const summary = JSON.stringify({ repo: data.request.repo, command: data.request.command });
      await client.eval(SUMMARY_SCRIPT, 1, this.toKey(job.id), SUMMARY_FIELD, summary);
    }
    return job;
  }

  /** Gives a cancelled job's place back at once; it stays in the queue until a worker drops it. */
  async releaseQuota(repoUrl: string, jobId: string): Promise<void> {
    await this.redis.zrem(quotaKey(repoUrl), jobId);
  }
}

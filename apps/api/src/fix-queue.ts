import { createHash } from 'node:crypto';
import { Queue, type Job, type JobsOptions, type QueueOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { signJobData, type FixJobData } from '@ci-fixer/contract';
import { LIMITS_PREFIX } from './limits.ts';

/** The job-hash field that holds what the job list shows of the request (see job-list.ts). */
export const SUMMARY_FIELD = 'cfx:summary';

export interface QueueLimits {
  /** Jobs one repository may have queued or running at once. */
  maxQueuedPerRepo: number;
  /** Jobs one GitHub App installation or GitLab top-level group may have queued or running at once. */
  maxQueuedPerInstallation: number;
}

/** One share of the queue a job counts against: its repository, and its forge installation when it has one. */
interface QuotaScope {
  /** Names the limit in the 429 answer. */
  name: 'queued-per-repo' | 'queued-per-installation';
  /** What holds the share, as a person reads it: a repository URL, `GitHub App installation 42`. */
  subject: string;
  setting: 'API_MAX_QUEUED_PER_REPO' | 'API_MAX_QUEUED_PER_INSTALLATION';
  limit: number;
  key: string;
}

/** A repository or installation already has its share of the queue; nothing was enqueued. */
export class QueueQuotaExceeded extends Error {
  readonly subject: string;
  readonly limit: number;
  readonly limitName: QuotaScope['name'];

  constructor(scope: QuotaScope) {
    super(
      `${scope.subject} already has ${scope.limit} fix jobs queued or running (${scope.setting}); submit again once one finishes`,
    );
    this.subject = scope.subject;
    this.limit = scope.limit;
    this.limitName = scope.name;
  }
}

// A reservation whose job hash is not there yet is kept this long: the job is being added right now.
const RESERVATION_GRACE_MS = 60_000;
// A repository that stops submitting leaves no key behind for longer than this.
const QUOTA_KEY_TTL_MS = 30 * 86_400_000;

/**
 * Counts the unfinished jobs of each quota scope (repository, installation) and reserves a place in all of
 * them for one more, in one script, so replicas racing for the last place cannot both win. Each scope's
 * set holds job ids; a job whose hash has `finishedOn` (completed or failed) or is gone (removed) no longer
 * counts and is dropped. A request that BullMQ will deduplicate into an unfinished job takes no place
 * (answer 0): resubmitting is answered with the existing job even at the quota.
 * KEYS[1..n] the scopes' sets, KEYS[n+1] the request's deduplication key (or a key that never exists);
 * ARGV: job key prefix, new job id, now (ms), grace (ms), key TTL (ms), then one limit per scope.
 * Answers -1 when reserved everywhere, 0 when deduplicated, i when scope i is full (nothing reserved).
 * The job keys are derived, not declared: like BullMQ's own scripts this needs one Redis, not a cluster.
 */
const RESERVE_SCRIPT = `
local prefix, id, now, grace = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local scopes = #KEYS - 1
local existing = redis.call('GET', KEYS[#KEYS])
if existing and redis.call('EXISTS', prefix .. existing) == 1 then return 0 end
for s = 1, scopes do
  local members = redis.call('ZRANGE', KEYS[s], 0, -1, 'WITHSCORES')
  local live = 0
  for i = 1, #members, 2 do
    local member, at = members[i], tonumber(members[i + 1])
    local key = prefix .. member
    local finished = redis.call('HEXISTS', key, 'finishedOn') == 1
    local gone = redis.call('EXISTS', key) == 0 and at < now - grace
    if member ~= id and (finished or gone) then
      redis.call('ZREM', KEYS[s], member)
    elseif member ~= id then
      live = live + 1
    end
  end
  if live >= tonumber(ARGV[5 + s]) then return s end
end
for s = 1, scopes do
  redis.call('ZADD', KEYS[s], now, id)
  redis.call('PEXPIRE', KEYS[s], ARGV[5])
end
return -1
`;

// Writes the summary only into a job hash that exists: a job removed meanwhile must not come back as a stub.
const SUMMARY_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
`;

function quotaKey(subject: string): string {
  return `${LIMITS_PREFIX}queued:${createHash('sha256').update(subject).digest('hex').slice(0, 32)}`;
}

/** The installation a forge job belongs to: its GitHub App installation, or its GitLab top-level group. */
function installationOf(data: FixJobData): string | undefined {
  const source = data.source;
  if (source?.forge === 'github' && source.installationId !== undefined)
    return `GitHub App installation ${source.installationId}`;
  if (source?.forge === 'gitlab') return `GitLab group ${source.repo.split('/')[0]}`;
  return undefined;
}

/**
 * The fix-job queue as the API writes to it. Both the REST route and the webhooks add through here, so
 * every job is:
 * - signed for the id the API chose (CI_FIXER_JOB_SIGNING_KEY), so workers can tell the API's jobs from
 *   data changed in Redis;
 * - within its repository's and its installation's quota of unfinished jobs (API_MAX_QUEUED_PER_REPO,
 *   API_MAX_QUEUED_PER_INSTALLATION), else QueueQuotaExceeded;
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
    const scopes = this.scopesOf(data);
    const keys = scopes.map((scope) => scope.key);
    const dedupe = options.deduplication?.id;
    const reserved = (await client.eval(
      RESERVE_SCRIPT,
      scopes.length + 1,
      ...keys,
      dedupe ? `${this.keys.de}:${dedupe}` : `${LIMITS_PREFIX}no-deduplication`,
      this.toKey(''),
      options.jobId,
      Date.now(),
      RESERVATION_GRACE_MS,
      QUOTA_KEY_TTL_MS,
      ...scopes.map((scope) => scope.limit),
    )) as number;
    if (reserved > 0) throw new QueueQuotaExceeded(scopes[reserved - 1]!);
    const release = () => Promise.all(keys.map((key) => client.zrem(key, options.jobId)));

    const signed = this.signingKey ? signJobData(options.jobId, data, this.signingKey) : data;
    let job: Job<FixJobData>;
    try {
      job = await super.add(name, signed, options);
    } catch (error) {
      await release().catch(() => {});
      throw error;
    }
    if (job.id !== options.jobId) {
      // Deduplicated into an existing job, which holds a place of its own.
      await release();
    } else {
      const summary = JSON.stringify({ repo: data.request.repo, command: data.request.command });
      await client.eval(SUMMARY_SCRIPT, 1, this.toKey(job.id), SUMMARY_FIELD, summary);
    }
    return job;
  }

  /** Gives a cancelled job's places back at once; it stays in the queue until a worker drops it. */
  async releaseQuota(data: FixJobData, jobId: string): Promise<void> {
    await Promise.all(this.scopesOf(data).map((scope) => this.redis.zrem(scope.key, jobId)));
  }

  private scopesOf(data: FixJobData): QuotaScope[] {
    const repo = data.request.repo.url;
    const installation = installationOf(data);
    return [
      {
        name: 'queued-per-repo',
        subject: repo,
        setting: 'API_MAX_QUEUED_PER_REPO',
        limit: this.limits.maxQueuedPerRepo,
        key: quotaKey(repo),
      },
      ...(installation
        ? [
            {
              name: 'queued-per-installation' as const,
              subject: installation,
              setting: 'API_MAX_QUEUED_PER_INSTALLATION' as const,
              limit: this.limits.maxQueuedPerInstallation,
              key: quotaKey(`installation:${installation}`),
            },
          ]
        : []),
    ];
  }
}

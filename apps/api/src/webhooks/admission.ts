import type { Redis } from 'ioredis';
import { type Forge } from '@ci-fixer/contract';
import { QUEUE_PREFIX } from '@ci-fixer/queue';
import { guardSubject, type Candidate } from './policy.ts';

/**
 * Admission of a webhook that passed the policy, in one Redis round trip, in this order:
 * 1. the delivery id (KEYS[1], skipped when empty): a redelivery of the same delivery is a duplicate;
 * 2. the run (KEYS[2], GitHub run id + attempt, GitLab pipeline id) and its job (KEYS[3], BullMQ's job
 *    hash): a replay of a run under a fresh delivery id is a duplicate too, and costs no fix attempt;
 * 3. the loop guard (KEYS[4]): refused when the change had FORGE_MAX_ATTEMPTS_PER_CHANGE fixes already.
 * Only an admitted run marks the run and counts one attempt; the caller undoes both when the job could not
 * be added, so an attempt is counted exactly when a job is created.
 *
 * ARGV: delivery TTL, run TTL, loop-guard window, max attempts. Returns {outcome, attempts}.
 */
const ADMIT = `
if KEYS[1] ~= '' and not redis.call('SET', KEYS[1], '1', 'EX', ARGV[1], 'NX') then return {0, 0} end
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return {2, 0} end
local attempts = tonumber(redis.call('GET', KEYS[4]) or '0')
if attempts >= tonumber(ARGV[4]) then return {3, attempts} end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
attempts = redis.call('INCR', KEYS[4])
if attempts == 1 then redis.call('EXPIRE', KEYS[4], ARGV[3]) end
return {1, attempts}
`;

const OUTCOMES = ['duplicate-delivery', 'admitted', 'duplicate-run', 'loop-guard'] as const;
export type AdmissionOutcome = (typeof OUTCOMES)[number];

export interface AdmissionSettings {
  deliveryTtlSeconds: number;
  /** How long a run id + attempt is remembered; at least the loop-guard window. */
  runTtlSeconds: number;
  windowSeconds: number;
  maxAttempts: number;
}

export interface Admission {
  outcome: AdmissionOutcome;
  attempts: number;
  /** Forgets the delivery, the run and the attempt, after the job could not be added. */
  undo(): Promise<void>;
}

const deliveryKey = (forge: Forge, id: string) => `${QUEUE_PREFIX}:webhook-delivery:${forge}:${id}`;
const runKey = (candidate: Candidate) =>
  `${QUEUE_PREFIX}:webhook-run:${candidate.source.forge}:${candidate.source.runId}:${candidate.source.runAttempt}`;
const guardKey = (candidate: Candidate) =>
  `${QUEUE_PREFIX}:loop-guard:${candidate.source.forge}:${candidate.source.repo.toLowerCase()}:${guardSubject(candidate.source)}`;

/** The job id of a run: same run and attempt, same id, so that BullMQ keeps one job even in a race. */
export function runJobId({ source }: Candidate): string {
  return `${source.forge === 'github' ? 'gh' : 'gl'}-${source.runId}-${source.runAttempt}`;
}

export async function admit(
  redis: Redis,
  settings: AdmissionSettings,
  candidate: Candidate,
  deliveryId: string | undefined,
  /** Redis key of the run's job hash (`queue.toKey(jobId)`), so that a job that is still kept counts. */
  jobKey: string,
): Promise<Admission> {
  const keys = [
    deliveryId ? deliveryKey(candidate.source.forge, deliveryId) : '',
    runKey(candidate),
    jobKey,
    guardKey(candidate),
  ] as const;
  const [code, attempts] = (await redis.eval(
    ADMIT,
    keys.length,
    ...keys,
    settings.deliveryTtlSeconds,
    Math.max(settings.runTtlSeconds, settings.windowSeconds),
    settings.windowSeconds,
    settings.maxAttempts,
  )) as [number, number];
  const outcome = OUTCOMES[code];
  if (!outcome) throw new Error(`the admission script answered ${code}`);
  return {
    outcome,
    attempts,
    async undo() {
      const undo = redis.multi().decr(keys[3]).del(keys[1]);
      if (keys[0]) undo.del(keys[0]);
      await undo.exec();
    },
  };
}

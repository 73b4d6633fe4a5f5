import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { OUTCOMES, STAGES, type FixJobData, type JobStatus, type Stage } from '@ci-fixer/contract';
import { cancelKey } from '@ci-fixer/queue';
import { redact } from '@ci-fixer/logger';
import { SUMMARY_FIELD } from './fix-queue.ts';
import { statusFrom } from './job-view.ts';
import { HttpProblem } from './problem.ts';

/** A fix job as the list shows it: no diagnosis, patch or steps (GET /v1/fix-jobs/:id has those). */
export interface JobSummary {
  id: string;
  status: JobStatus;
  stage: Stage | null;
  repo: FixJobData['request']['repo'];
  command: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  attempts: number;
  reason: string | null;
}

export interface ListQuery {
  status?: JobStatus;
  limit: number;
  cursor?: string;
}

export interface JobPage {
  items: JobSummary[];
  /** Pass as `cursor` for the next page; null when there is none. */
  nextCursor: string | null;
  /** Every retained job, given only without a status filter (counting one status would mean reading all). */
  total?: number;
}

/** Candidates one list call reads at most, matching or not: a rare status costs bounded work per page. */
export const LIST_SCAN_BUDGET = 2000;
const REASON_MAX_CHARS = 2000;

// What of a job the list needs, read inside Redis: the payload (`data`, logs included) is never sent, and
// `progress` and `returnvalue` are decoded there with only their stage, request and outcome sent back.
// Jobs added before the summary field existed fall back to decoding `data` inside Redis too.
// ARGV[1] the job key prefix, ARGV[2..] job ids; answers one JSON string per id, '' for a job that is gone.
const SUMMARIES_SCRIPT = `
local prefix, summaryField, reasonMax = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
local function decode(text)
  if not text then return nil end
  local ok, value = pcall(cjson.decode, text)
  if ok and type(value) == 'table' then return value end
  return nil
end
local function requestOf(req)
  if type(req) ~= 'table' then return nil end
  return { repo = req.repo, command = req.command }
end
for i = 4, #ARGV do
  local id = ARGV[i]
  local key = prefix .. id
  local h = redis.call('HMGET', key, 'timestamp', 'processedOn', 'finishedOn', 'attemptsMade', 'atm',
    'failedReason', summaryField, 'progress', 'returnvalue')
  if not h[1] then
    out[#out + 1] = ''
  else
    local item = { id = id, timestamp = h[1], processedOn = h[2] or '', finishedOn = h[3] or '',
      attempts = h[4] or h[5] or '0' }
    if h[6] then item.failedReason = string.sub(h[6], 1, reasonMax) end
    local summary = decode(h[7])
    if not summary then
      local data = decode(redis.call('HGET', key, 'data'))
      summary = requestOf(data and data.request)
    end
    item.request = summary
    local progress = decode(h[8])
    if progress then
      item.stage = progress.stage
      item.progressRequest = requestOf(progress.request)
    end
    local result = decode(h[9])
    if result then
      item.outcome = result.outcome
      if type(result.reason) == 'string' then item.reason = string.sub(result.reason, 1, reasonMax) end
    end
    out[#out + 1] = cjson.encode(item)
  end
end
return out
`;

const rawSummary = z.object({
  id: z.string(),
  timestamp: z.string(),
  processedOn: z.string(),
  finishedOn: z.string(),
  attempts: z.string(),
  failedReason: z.string().optional(),
  request: z.object({ repo: z.any(), command: z.any() }).partial().optional(),
  progressRequest: z.object({ repo: z.any(), command: z.any() }).partial().optional(),
  stage: z.unknown().optional(),
  outcome: z.unknown().optional(),
  reason: z.string().optional(),
});

type UnfinishedState = 'active' | 'wait' | 'prioritized' | 'delayed' | 'waiting-children';
type FinishedState = 'completed' | 'failed';
type State = UnfinishedState | FinishedState;

// BullMQ keeps paused jobs in `wait`. Lists are pushed on the left, so index 0 is the newest.
const LIST_STATES: ReadonlySet<State> = new Set(['active', 'wait']);
const QUEUED: UnfinishedState[] = ['wait', 'prioritized', 'delayed', 'waiting-children'];

/**
 * Which of BullMQ's structures can hold a job of a status. The list reads unfinished jobs first (running,
 * then queued, in queue order) and then finished ones, most recently finished first, merged across the
 * completed and failed sorted sets by their score (finishedOn).
 */
function sourcesFor(status: JobStatus | undefined): {
  unfinished: UnfinishedState[];
  finished: FinishedState[];
} {
  switch (status) {
    case 'queued':
      return { unfinished: QUEUED, finished: [] };
    case 'running':
      // A job that just completed may show as running for an instant (no returnvalue yet); not worth a scan.
      return { unfinished: ['active'], finished: [] };
    case 'fixed':
    case 'not_reproducible':
    case 'unfixable':
      return { unfinished: [], finished: ['completed'] };
    case 'failed':
      return { unfinished: [], finished: ['failed'] };
    case 'cancelled':
      return { unfinished: ['active', ...QUEUED], finished: ['failed'] };
    default:
      return { unfinished: ['active', ...QUEUED], finished: ['completed', 'failed'] };
  }
}

/** Where a page ends: an index into the unfinished jobs, or the last finished job shown. */
type Position = { u: number } | { f: [number, string] };

const position = z.union([
  z.strictObject({ u: z.number().int().min(0) }),
  z.strictObject({ f: z.tuple([z.number(), z.string().max(256)]) }),
]);

function encodeCursor(at: Position): string {
  return Buffer.from(JSON.stringify(at)).toString('base64url');
}

function decodeCursor(cursor: string): Position {
  try {
    return position.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new HttpProblem(
      400,
      'Invalid Request',
      'the query is invalid: cursor: not a cursor this API gave; pass `nextCursor` from the previous page unchanged',
      { errors: [{ path: 'cursor', message: 'not a cursor this API gave' }] },
    );
  }
}

interface Candidate {
  id: string;
  state: State;
  /** The position just past this job. */
  next: Position;
}

export class JobLister {
  private readonly queue: Queue<FixJobData>;
  private readonly redis: Redis;

  constructor(queue: Queue<FixJobData>, redis: Redis) {
    this.queue = queue;
    this.redis = redis;
  }

  async list(query: ListQuery): Promise<JobPage> {
    const sources = sourcesFor(query.status);
    let at: Position | null = query.cursor
      ? decodeCursor(query.cursor)
      : sources.unfinished.length > 0
        ? { u: 0 }
        : { f: [Number.MAX_SAFE_INTEGER, ''] };
    const items: JobSummary[] = [];
    let scanned = 0;
    while (at && items.length < query.limit && scanned < LIST_SCAN_BUDGET) {
      const needed = query.limit - items.length;
      // Unfiltered, nearly every candidate is shown; filtered, read ahead to save round trips.
      const size = Math.min(LIST_SCAN_BUDGET - scanned, query.status ? Math.max(needed, 200) : needed);
      const chunk: Candidate[] =
        'u' in at
          ? await this.unfinished(sources.unfinished, at.u, size)
          : await this.finished(sources.finished, at.f, size);
      if (chunk.length === 0) {
        // The unfinished jobs are through: on to the finished ones, if the status has any.
        at = 'u' in at && sources.finished.length > 0 ? { f: [Number.MAX_SAFE_INTEGER, ''] } : null;
        continue;
      }
      scanned += chunk.length;
      const summaries = await this.summaries(chunk);
      for (const [index, candidate] of chunk.entries()) {
        at = candidate.next;
        const summary = summaries[index];
        if (summary && (!query.status || summary.status === query.status)) items.push(summary);
        if (items.length === query.limit) break;
      }
    }
    const page: JobPage = { items, nextCursor: at ? encodeCursor(at) : null };
    if (!query.status) page.total = await this.total();
    return page;
  }

  private key(state: State): string {
    return this.queue.keys[state]!;
  }

  private async unfinished(states: UnfinishedState[], offset: number, size: number): Promise<Candidate[]> {
    const lengths = await this.lengths(states);
    const reads: [UnfinishedState, number, number][] = [];
    let skip = offset;
    let wanted = size;
    for (const [index, state] of states.entries()) {
      const length = lengths[index]!;
      if (skip >= length) {
        skip -= length;
        continue;
      }
      const take = Math.min(wanted, length - skip);
      reads.push([state, skip, take]);
      wanted -= take;
      skip = 0;
      if (wanted === 0) break;
    }
    if (reads.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const [state, start, take] of reads) {
      if (LIST_STATES.has(state)) pipeline.lrange(this.key(state), start, start + take - 1);
      else pipeline.zrange(this.key(state), String(start), String(start + take - 1));
    }
    const results = await execOrThrow(pipeline);
    const candidates: Candidate[] = [];
    let next = offset;
    for (const [index, [state]] of reads.entries()) {
      for (const id of results[index] as string[]) candidates.push({ id, state, next: { u: ++next } });
    }
    return candidates;
  }

  /** Finished jobs after `[score, id]` in (finishedOn desc, id desc) order, merged across the sets. */
  private async finished(
    states: FinishedState[],
    after: [number, string],
    size: number,
  ): Promise<Candidate[]> {
    const [score, lastId] = after;
    const isAfter = (s: number, id: string) => s < score || (s === score && id < lastId);
    const perState = await Promise.all(
      states.map(async (state) => {
        const found: { id: string; score: number; state: FinishedState }[] = [];
        // Jobs with the cursor's own score come first and may be before it; skip past them, boundedly.
        for (let offset = 0; found.length < size && offset < LIST_SCAN_BUDGET; offset += size) {
          const flat = await this.redis.zrevrangebyscore(
            this.key(state),
            String(score),
            '-inf',
            'WITHSCORES',
            'LIMIT',
            offset,
            size,
          );
          for (let i = 0; i < flat.length; i += 2) {
            const s = Number(flat[i + 1]);
            if (isAfter(s, flat[i]!) && found.length < size) found.push({ id: flat[i]!, score: s, state });
          }
          if (flat.length < size * 2) break;
        }
        return found;
      }),
    );
    return perState
      .flat()
      .sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      .slice(0, size)
      .map(({ id, score: s, state }) => ({ id, state, next: { f: [s, id] } }));
  }

  private async lengths(states: State[]): Promise<number[]> {
    const pipeline = this.redis.pipeline();
    for (const state of states) {
      if (LIST_STATES.has(state)) pipeline.llen(this.key(state));
      else pipeline.zcard(this.key(state));
    }
    return (await execOrThrow(pipeline)) as number[];
  }

  private async total(): Promise<number> {
    const { unfinished, finished } = sourcesFor(undefined);
    return (await this.lengths([...unfinished, ...finished])).reduce((sum, n) => sum + n, 0);
  }

  private async summaries(chunk: Candidate[]): Promise<(JobSummary | undefined)[]> {
    const ids = chunk.map((candidate) => candidate.id);
    const pipeline = this.redis.pipeline();
    pipeline.eval(SUMMARIES_SCRIPT, 0, this.queue.toKey(''), SUMMARY_FIELD, String(REASON_MAX_CHARS), ...ids);
    pipeline.mget(ids.map(cancelKey));
    const [raws, marks] = (await execOrThrow(pipeline)) as [string[], (string | null)[]];
    return chunk.map((candidate, index) => {
      const raw = raws[index];
      if (!raw) return undefined; // removed between the two reads
      return toSummary(rawSummary.parse(JSON.parse(raw)), candidate.state, marks[index] === '1');
    });
  }
}

async function execOrThrow(pipeline: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

function toSummary(raw: z.infer<typeof rawSummary>, state: State, cancelRequested: boolean): JobSummary {
  const outcome = OUTCOMES.find((value) => value === raw.outcome);
  const status = statusFrom(state, outcome, raw.failedReason, cancelRequested);
  const request = { ...raw.request, ...raw.progressRequest };
  const iso = (ms: string) => (Number(ms) > 0 ? new Date(Number(ms)).toISOString() : null);
  // Reasons and commands may quote credentials, as in the job view.
  return redact({
    id: raw.id,
    status,
    stage: STAGES.find((stage) => stage === raw.stage) ?? null,
    repo: request.repo ?? { url: '' },
    command: typeof request.command === 'string' ? request.command : '',
    createdAt: new Date(Number(raw.timestamp)).toISOString(),
    startedAt: iso(raw.processedOn),
    finishedAt: iso(raw.finishedOn),
    attempts: Number(raw.attempts) || 0,
    reason: outcome ? (raw.reason ?? null) : status === 'failed' ? (raw.failedReason ?? null) : null,
  }) as JobSummary;
}

import type { FixRequest } from './request.ts';
import type { ForgeReport } from './source.ts';

export const STAGES = ['cloning', 'installing', 'reproducing', 'diagnosing', 'fixing', 'verifying'] as const;
export type Stage = (typeof STAGES)[number];

/** How the fix engine ended a job it ran to completion. */
export const OUTCOMES = ['fixed', 'not_reproducible', 'unfixable'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** A job's status as the API reports it: queue state and outcome in one word. */
export const JOB_STATUSES = ['queued', 'running', ...OUTCOMES, 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const FINDING_CATEGORIES = [
  'format',
  'lint',
  'type',
  'test',
  'build',
  'dependency',
  'unknown',
] as const;
export type FindingCategory = (typeof FINDING_CATEGORIES)[number];

export interface Finding {
  category: FindingCategory;
  tool: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
  rule?: string;
}

export interface Diagnosis {
  /** One line a person can read in a list. */
  summary: string;
  findings: Finding[];
}

/** One command the engine ran, as recorded for the API. */
export interface Step {
  stage: Stage;
  command: string;
  /** When the command started, ISO 8601. */
  startedAt: string;
  exitCode: number;
  timedOut: boolean;
  durationMs: number;
  /** The last few kilobytes of stdout and stderr, interleaved as they arrived. */
  logTail: string;
}

export interface FixResult {
  outcome: Outcome;
  /** Why the engine ended where it did, in a sentence. */
  reason: string;
  diagnosis: Diagnosis | null;
  /** A unified diff against the requested commit, ready for `git apply`; only for `fixed`. */
  patch: string | null;
  /** The recipe or agent that produced the patch. */
  strategy: string | null;
  /** The commit the patch applies to. */
  baseSha: string | null;
  steps: Step[];
  /** How the result went back to the forge, for jobs a webhook started. */
  report?: ForgeReport;
  /** Wall-clock time of the whole fix, sandbox commands and engine work included. */
  durationMs?: number;
  /** The command failed once and passed once in the sandbox before it failed again. */
  flaky?: boolean;
  /** What the LLM agent spent, when it ran. */
  agent?: AgentUsage;
}

export interface AgentUsage {
  model: string;
  /** Model turns taken. */
  steps: number;
  promptTokens: number;
  completionTokens: number;
  /** Why the agent stopped: `done`, a budget, a guardrail, or a provider error. */
  stoppedBecause: string;
}

/** What a running job publishes as BullMQ progress. */
export interface JobProgress {
  stage: Stage;
  steps: Step[];
  /** A webhook job's request as the worker recovered it from the failed CI job. */
  request?: FixRequest;
}

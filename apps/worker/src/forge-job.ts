import type { Job } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import type { Config } from '@ci-fixer/config';
import {
  ForgeConfigError,
  describeStatus,
  openForgeSession,
  statusOf,
  type FailureContext,
  type ForgeSession,
  type ForgeSettings,
} from '@ci-fixer/forge';
import {
  checkRepoUrl,
  type FixJobData,
  type FixRequest,
  type FixResult,
  type ForgeSource,
} from '@ci-fixer/jobs';
import type { Logger } from '@ci-fixer/logger';
import type { WorkerMetrics } from './metrics.ts';

export function forgeSettings(config: Config, metrics?: WorkerMetrics): ForgeSettings {
  const onError = (forge: string) => (status: number) =>
    metrics?.forgeApiErrors.inc({ forge, status: String(status) });
  return {
    github: {
      apiUrl: config.GITHUB_API_URL,
      ...(config.GITHUB_APP_ID ? { appId: config.GITHUB_APP_ID } : {}),
      ...(config.GITHUB_APP_PRIVATE_KEY ? { privateKey: config.GITHUB_APP_PRIVATE_KEY } : {}),
      ...(config.GITHUB_TOKEN ? { token: config.GITHUB_TOKEN } : {}),
      onError: onError('github'),
    },
    gitlab: {
      url: config.GITLAB_URL,
      ...(config.GITLAB_TOKEN ? { token: config.GITLAB_TOKEN } : {}),
      onError: onError('gitlab'),
    },
    logMaxBytes: config.FORGE_LOG_MAX_BYTES,
    reportMode: config.FORGE_REPORT_MODE,
    reportOverrides: config.FORGE_REPORT_OVERRIDES,
    rerunFlaky: config.FORGE_RERUN_FLAKY,
  };
}

/** A webhook job, ready to run: the recovered request and the forge session that reports the result. */
export type PreparedForgeJob =
  | { kind: 'run'; request: FixRequest; gitAuthHeader: string; finish(result: FixResult): Promise<FixResult> }
  | { kind: 'done'; result: FixResult };

/**
 * Recovers the failing command from the forge before any sandbox exists. A command that cannot be
 * recovered ends the job as `unfixable` (and is reported); forge 5xx errors propagate, so BullMQ retries.
 */
export async function prepareForgeJob(
  job: Job<FixJobData>,
  source: ForgeSource,
  {
    config,
    settings,
    log,
    metrics,
  }: { config: Config; settings: ForgeSettings; log: Logger; metrics?: WorkerMetrics },
): Promise<PreparedForgeJob> {
  const session = await permanentAsUnrecoverable(
    () => openForgeSession(source, settings),
    'open the forge session',
  );
  const check = checkRepoUrl(session.cloneUrl, {
    allowFileRepos: config.CI_FIXER_ALLOW_FILE_REPOS,
    allowedHosts: config.CI_FIXER_REPO_HOSTS,
  });
  if (!check.ok) throw new UnrecoverableError(`the forge's clone URL is not allowed: ${check.reason}`);

  const reportWith = async (result: FixResult, context: FailureContext | null): Promise<FixResult> => {
    const report = await session.report(result, context, job.id!);
    metrics?.reports.inc({ forge: source.forge, mode: report.mode, status: report.status });
    log[report.status === 'failed' ? 'warn' : 'info']('forge report', { ...report });
    return { ...result, report };
  };

  const recovery = await permanentAsUnrecoverable(
    () => session.recoverFailure(),
    'recover the failing command',
  );
  if (!recovery.ok) {
    log.info('failing command not recoverable', { reason: recovery.reason });
    const result: FixResult = {
      outcome: 'unfixable',
      reason: recovery.reason,
      diagnosis: null,
      patch: null,
      strategy: null,
      baseSha: null,
      steps: [],
    };
    return { kind: 'done', result: await reportWith(result, null) };
  }
  const { context } = recovery;
  const request: FixRequest = {
    repo: { url: check.url, sha: source.headSha },
    command: context.command,
    logs: context.logs,
  };
  // The API shows the recovered command from the job's progress on; job data stays as the API signed it.
  await job.updateProgress({ stage: 'cloning', steps: [], request });
  log.info('failing command recovered', { job: context.jobName, step: context.stepName });
  return {
    kind: 'run',
    request,
    gitAuthHeader: await sessionHeader(session),
    finish: (result) => reportWith(result, context),
  };
}

function sessionHeader(session: ForgeSession): Promise<string> {
  return permanentAsUnrecoverable(() => session.gitAuthHeader(), 'get a git token');
}

/** Missing credentials and 4xx answers will not heal by retrying; the job fails at once with the reason. */
async function permanentAsUnrecoverable<T>(work: () => Promise<T>, what: string): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ForgeConfigError) throw new UnrecoverableError(error.message);
    const status = statusOf(error);
    if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
      throw new UnrecoverableError(
        `could not ${what}: ${describeStatus(status)} (${(error as Error).message})`,
      );
    }
    throw error;
  }
}

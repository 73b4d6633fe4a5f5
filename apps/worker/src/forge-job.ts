import type { Job } from 'bullmq';
import type { Config } from '@ci-fixer/config';
import {
  openForgeSession,
  type FailureContext,
  type ForgeSession,
  type ForgeSettings,
} from '@ci-fixer/forge';
import {
  checkRepoUrl,
  PermanentError,
  type FixJobData,
  type FixRequest,
  type FixResult,
  type ForgeSource,
} from '@ci-fixer/contract';
import type { Logger } from '@ci-fixer/logger';
import { step } from './failure.ts';
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
 * recovered ends the job as `unfixable` (and is reported); forge errors are sorted by
 * failure.ts: 5xx and no answer are retried, other statuses end the job with the step they stopped.
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
  const session = await step('open the forge session', () => openForgeSession(source, settings));
  const check = checkRepoUrl(session.cloneUrl, {
    allowFileRepos: config.CI_FIXER_ALLOW_FILE_REPOS,
    allowedHosts: config.CI_FIXER_REPO_HOSTS,
  });
  if (!check.ok)
    throw new PermanentError('invalid-job', `the forge's clone URL is not allowed: ${check.reason}`, {
      context: { forge: source.forge },
    });

  const reportWith = async (result: FixResult, context: FailureContext | null): Promise<FixResult> => {
    const report = await session.report(result, context, job.id!);
    metrics?.reports.inc({ forge: source.forge, mode: report.mode, status: report.status });
    log[report.status === 'failed' ? 'warn' : 'info']('forge report', { ...report });
    return { ...result, report };
  };

  const recovery = await step('recover the failing command', () => session.recoverFailure());
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
  return step('get a git token', () => session.gitAuthHeader());
}

import type { Job } from 'bullmq';
import type { Config } from '@ci-fixer/config';
import {
  checkRepoUrl,
  fixRequestSchema,
  PermanentError,
  verifyJobData,
  type FixJobData,
} from '@ci-fixer/contract';

/**
 * The worker trusts nothing in job data: whoever can write to Redis can change a waiting job. A job runs
 * only if the API's signature matches its data, and its request passes the same schema and repository
 * policy the API applied. Refusals are permanent: retrying a forged job would not make it genuine.
 */
export function admitJob(job: Job<FixJobData>, config: Config): void {
  const refuse = (why: string) => {
    throw new PermanentError('invalid-job', `job refused: ${why}`, { context: { jobId: job.id } });
  };
  if (config.CI_FIXER_JOB_SIGNING_KEY) {
    const check = verifyJobData(job.id!, job.data, config.CI_FIXER_JOB_SIGNING_KEY);
    if (!check.ok)
      refuse(
        `${check.reason}; it was not enqueued by this deployment's API (or the API and the worker have different CI_FIXER_JOB_SIGNING_KEY values)`,
      );
  }
  const parsed = fixRequestSchema.safeParse(job.data.request);
  if (!parsed.success)
    refuse(
      `its request is invalid (${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')})`,
    );
  // A webhook job's repository is the forge's clone URL, which the worker checks when it recovers it.
  if (job.data.source) return;
  const repo = checkRepoUrl(job.data.request.repo.url, {
    allowFileRepos: config.CI_FIXER_ALLOW_FILE_REPOS,
    allowedHosts: config.CI_FIXER_REPO_HOSTS,
  });
  if (!repo.ok) refuse(`its repository is not allowed here (${repo.reason})`);
}

import type { Octokit } from '@octokit/rest';
import type { ForgeSource } from '@ci-fixer/contract';
import { unrecoverable, type Recovery } from '../failure.ts';
import { condenseLog } from '../log.ts';
import { reproductionCommand } from '../reproduce.ts';
import { findFailingStep } from './workflow.ts';

const FAILED = new Set(['failure', 'timed_out']);

export function splitRepo(repo: string): { owner: string; repo: string } {
  const [owner, name] = repo.split('/') as [string, string];
  return { owner, repo: name };
}

/**
 * Finds the failed jobs of the run, reads the first one's log and the workflow file at the failing commit,
 * and recovers the failing step's command. Forge errors propagate; what cannot be recovered is a reason.
 */
export async function recoverGitHubFailure(
  octokit: Octokit,
  source: ForgeSource,
  logMaxBytes: number,
): Promise<Recovery> {
  const repo = splitRepo(source.repo);
  const jobs = await octokit.paginate(octokit.rest.actions.listJobsForWorkflowRun, {
    ...repo,
    run_id: source.runId,
    filter: 'latest',
    per_page: 100,
  });
  const failed = jobs.filter((job) => job.conclusion && FAILED.has(job.conclusion));
  if (failed.length === 0) return unrecoverable(`run ${source.runId} has no failed job`);
  if (!source.workflowPath) return unrecoverable('the webhook did not name the workflow file');

  const workflow = await readFile(octokit, source, source.workflowPath);
  const reasons: string[] = [];
  for (const job of failed) {
    const log = await jobLog(octokit, source, job.id);
    const failedStep = job.steps?.find((step) => step.conclusion && FAILED.has(step.conclusion));
    const match = findFailingStep(workflow, job.name, failedStep?.name, log);
    if (!match.ok) {
      reasons.push(match.reason);
      continue;
    }
    const reproduction = reproductionCommand(match.step);
    if (!reproduction.ok) {
      reasons.push(`${match.stepName}: ${reproduction.reason}`);
      continue;
    }
    return {
      ok: true,
      context: {
        jobName: job.name,
        stepName: match.stepName,
        command: reproduction.command,
        script: match.step.script,
        shell: match.step.shell ?? null,
        workingDirectory: match.step.workingDirectory ?? null,
        logs: condenseLog(log, logMaxBytes),
        failedJobIds: failed.map((each) => each.id),
        jobUrl: job.html_url ?? null,
      },
    };
  }
  return unrecoverable(`the failing command could not be recovered: ${reasons.join('; ')}`);
}

async function readFile(octokit: Octokit, source: ForgeSource, path: string): Promise<string> {
  const { data } = await octokit.rest.repos.getContent({
    ...splitRepo(source.repo),
    path,
    ref: source.headSha,
  });
  if (Array.isArray(data) || data.type !== 'file' || !('content' in data)) {
    throw new Error(`${path} at ${source.headSha} is not a file`);
  }
  return Buffer.from(data.content, 'base64').toString('utf8');
}

/** The job log: GitHub answers 302 to a short-lived plain-text URL, which fetch follows. */
async function jobLog(octokit: Octokit, source: ForgeSource, jobId: number): Promise<string> {
  const { data } = await octokit.rest.actions.downloadJobLogsForWorkflowRun({
    ...splitRepo(source.repo),
    job_id: jobId,
  });
  return typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer).toString('utf8');
}

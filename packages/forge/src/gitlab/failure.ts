import type { ForgeSource } from '@ci-fixer/contract';
import { unrecoverable, type Recovery } from '../failure.ts';
import { condenseLog } from '../log.ts';
import { reproductionCommand } from '../reproduce.ts';
import { findGitLabJob } from './ci-config.ts';
import type { GitLabClient } from './client.ts';

export interface GitLabJob {
  id: number;
  name: string;
  stage: string;
  status: string;
  web_url?: string;
  allow_failure?: boolean;
}

/** The pipeline's failed jobs, their traces and the job's script from .gitlab-ci.yml at the failing commit. */
export async function recoverGitLabFailure(
  client: GitLabClient,
  source: ForgeSource,
  logMaxBytes: number,
): Promise<Recovery> {
  const project = `/projects/${source.projectId}`;
  const jobs = await client.all<GitLabJob>(`${project}/pipelines/${source.runId}/jobs`, {
    scope: ['failed'],
  });
  const failed = jobs.filter((job) => job.status === 'failed' && !job.allow_failure);
  if (failed.length === 0) return unrecoverable(`pipeline ${source.runId} has no failed job`);

  const configPath = source.workflowPath ?? '.gitlab-ci.yml';
  const config = await client.text(`${project}/repository/files/${encodeURIComponent(configPath)}/raw`, {
    ref: source.headSha,
  });
  const reasons: string[] = [];
  for (const job of failed) {
    const match = findGitLabJob(config, job.name);
    if (!match.ok) {
      reasons.push(match.reason);
      continue;
    }
    const reproduction = reproductionCommand(match.step);
    if (!reproduction.ok) {
      reasons.push(`${job.name}: ${reproduction.reason}`);
      continue;
    }
    const trace = await client.text(`${project}/jobs/${job.id}/trace`);
    return {
      ok: true,
      context: {
        jobName: job.name,
        stepName: 'script',
        command: reproduction.command,
        script: match.step.script,
        shell: null,
        workingDirectory: null,
        logs: condenseLog(trace, logMaxBytes),
        failedJobIds: failed.map((each) => each.id),
        jobUrl: job.web_url ?? null,
      },
    };
  }
  return unrecoverable(`the failing command could not be recovered: ${reasons.join('; ')}`);
}

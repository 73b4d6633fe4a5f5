import type { FixResult, ForgeReport, ForgeSource, ReportMode } from '@ci-fixer/contract';
import { ForgeConfigError } from './errors.ts';
import type { FailureContext, Recovery } from './failure.ts';
import { basicAuthHeader, connectGitHub, type GitHubSettings } from './github/client.ts';
import { recoverGitHubFailure, splitRepo } from './github/failure.ts';
import { githubReporter } from './github/report.ts';
import { GitLabClient, type GitLabSettings } from './gitlab/client.ts';
import { recoverGitLabFailure } from './gitlab/failure.ts';
import { gitlabReporter } from './gitlab/report.ts';
import { report, type Reporter } from './report/modes.ts';
import { renderReport, reportTitle, type ReportInput } from './report/render.ts';

export interface ForgeSettings {
  github: GitHubSettings;
  gitlab: GitLabSettings;
  logMaxBytes: number;
  /** The global mode; `push` only through `reportOverrides`. */
  reportMode: ReportMode;
  /** Per repository (lower-case `owner/repo`). */
  reportOverrides: Record<string, ReportMode>;
  rerunFlaky: boolean;
}

/** One job's access to its forge: where to clone from, what failed, and how to report back. */
export interface ForgeSession {
  /** The repository's clone URL as the forge reports it. */
  cloneUrl: string;
  /** `Authorization: …` for git fetches of this repository; in memory only. */
  gitAuthHeader(): Promise<string>;
  recoverFailure(): Promise<Recovery>;
  report(result: FixResult, context: FailureContext | null, jobId: string): Promise<ForgeReport>;
  reportMode: ReportMode;
}

export function reportModeFor(settings: ForgeSettings, repo: string): ReportMode {
  return settings.reportOverrides[repo.toLowerCase()] ?? settings.reportMode;
}

export async function openForgeSession(source: ForgeSource, settings: ForgeSettings): Promise<ForgeSession> {
  const reportMode = reportModeFor(settings, source.repo);
  const options = { mode: reportMode, rerunFlaky: settings.rerunFlaky };
  const send =
    (reporter: (input: ReportInput) => Reporter) =>
    (result: FixResult, context: FailureContext | null, jobId: string) => {
      const input: ReportInput = { source, result, context, jobId };
      return report(reporter(input), input, options, renderReport, reportTitle(result));
    };

  if (source.forge === 'github') {
    const conn = await connectGitHub(settings.github, source.repo, source.installationId);
    const { data: repository } = await conn.octokit.rest.repos.get(splitRepo(source.repo));
    const cloneUrl = repository.clone_url;
    return {
      cloneUrl,
      reportMode,
      gitAuthHeader: async () => basicAuthHeader('x-access-token', await conn.gitToken()),
      recoverFailure: () => recoverGitHubFailure(conn.octokit, source, settings.logMaxBytes),
      report: send((input) => githubReporter(conn, input, cloneUrl)),
    };
  }
  if (source.projectId === undefined) throw new ForgeConfigError('a GitLab job needs the project id');
  const client = new GitLabClient(settings.gitlab);
  const project = await client.json<{ http_url_to_repo: string; web_url: string }>(
    'GET',
    `/projects/${source.projectId}`,
  );
  return {
    cloneUrl: project.http_url_to_repo,
    reportMode,
    gitAuthHeader: async () => basicAuthHeader('oauth2', client.gitToken),
    recoverFailure: () => recoverGitLabFailure(client, source, settings.logMaxBytes),
    report: send((input) => gitlabReporter(client, input, project.http_url_to_repo, project.web_url)),
  };
}

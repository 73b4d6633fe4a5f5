import type { ReportInput } from '../report/render.ts';
import { reportMarker, suggestionsFromPatch } from '../report/render.ts';
import type { Reporter } from '../report/modes.ts';
import { pushPatch } from '../report/git-push.ts';
import { basicAuthHeader, type GitHubConnection } from './client.ts';
import { splitRepo } from './failure.ts';

const SUGGESTIONS_MARKER = '<!-- ci-fixer:suggestions';
const CHECK_NAME = 'ci-fixer';

/** Reporting on GitHub: issue comments on the pull request, pull requests, check runs and re-runs. */
export function githubReporter(conn: GitHubConnection, input: ReportInput, cloneUrl: string): Reporter {
  const { octokit } = conn;
  const { source } = input;
  const repo = splitRepo(source.repo);
  const pr = source.changeRequests[0];
  const marker = reportMarker(source);

  return {
    async upsertComment(body) {
      if (pr === undefined) {
        const { data } = await octokit.rest.repos.createCommitComment({
          ...repo,
          commit_sha: source.headSha,
          body,
        });
        return data.html_url;
      }
      const comments = await octokit.paginate(octokit.rest.issues.listComments, {
        ...repo,
        issue_number: pr,
        per_page: 100,
      });
      const mine = comments.find((comment) => comment.body?.includes(marker));
      const { data } = mine
        ? await octokit.rest.issues.updateComment({ ...repo, comment_id: mine.id, body })
        : await octokit.rest.issues.createComment({ ...repo, issue_number: pr, body });
      return data.html_url;
    },

    async openChangeRequest(branch, title, body) {
      // A job delivered again (its completion was lost after this report) finds the pull request its
      // earlier run opened, instead of failing on GitHub's "a pull request already exists".
      const { data: open } = await octokit.rest.pulls.list({
        ...repo,
        head: `${repo.owner}:${branch}`,
        state: 'open',
        per_page: 1,
      });
      if (open[0]) {
        const { data } = await octokit.rest.pulls.update({
          ...repo,
          pull_number: open[0].number,
          title,
          body,
        });
        return data.html_url;
      }
      const { data } = await octokit.rest.pulls.create({
        ...repo,
        head: branch,
        base: source.headBranch!,
        title,
        body,
      });
      return data.html_url;
    },

    async checkRun(title, summary) {
      if (conn.kind !== 'app') {
        throw new Error(
          'check runs can be created only by a GitHub App; configure GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY',
        );
      }
      const run = {
        status: 'completed' as const,
        conclusion: 'neutral' as const,
        ...(source.runUrl ? { details_url: source.runUrl } : {}),
        output: { title, summary: summary.slice(0, 65_000) },
      };
      // One ci-fixer check run per commit: a report sent again updates it.
      const { data: existing } = await octokit.rest.checks.listForRef({
        ...repo,
        ref: source.headSha,
        check_name: CHECK_NAME,
        per_page: 1,
      });
      const earlier = existing.check_runs[0];
      const { data } = earlier
        ? await octokit.rest.checks.update({ ...repo, check_run_id: earlier.id, ...run })
        : await octokit.rest.checks.create({ ...repo, name: CHECK_NAME, head_sha: source.headSha, ...run });
      return data.html_url ?? undefined;
    },

    async rerunFailed() {
      await octokit.rest.actions.reRunWorkflowFailedJobs({ ...repo, run_id: source.runId });
    },

    /** Suggestion blocks on the pull request's lines, once per commit; lines outside the PR diff are refused (422). */
    async afterComment({ result }) {
      if (pr === undefined || !result.patch) return;
      const suggestions = suggestionsFromPatch(result.patch);
      if (suggestions.length === 0) return;
      const tag = `${SUGGESTIONS_MARKER} ${source.headSha} -->`;
      const reviews = await octokit.paginate(octokit.rest.pulls.listReviews, {
        ...repo,
        pull_number: pr,
        per_page: 100,
      });
      if (reviews.some((review) => review.body?.includes(tag))) return;
      await octokit.rest.pulls.createReview({
        ...repo,
        pull_number: pr,
        commit_id: source.headSha,
        event: 'COMMENT',
        body: `${tag}\nci-fixer suggests these changes; the full patch is in the ci-fixer comment.`,
        comments: suggestions.slice(0, 50).map((suggestion) => ({
          path: suggestion.path,
          line: suggestion.endLine,
          ...(suggestion.startLine < suggestion.endLine
            ? { start_line: suggestion.startLine, start_side: 'RIGHT' as const }
            : {}),
          side: 'RIGHT' as const,
          body: ['```suggestion', ...suggestion.replacement, '```'].join('\n'),
        })),
      });
    },

    async pushFix(branch, message) {
      return pushPatch({
        cloneUrl,
        baseSha: input.result.baseSha ?? source.headSha,
        patch: input.result.patch!,
        branch,
        message,
        authHeader: basicAuthHeader('x-access-token', await conn.gitToken()),
      });
    },
  };
}

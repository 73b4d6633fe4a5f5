import type { ReportInput } from '../report/render.ts';
import { reportMarker } from '../report/render.ts';
import type { Reporter } from '../report/modes.ts';
import { pushPatch } from '../report/git-push.ts';
import { basicAuthHeader } from '../github/client.ts';
import type { GitLabClient } from './client.ts';

interface Note {
  id: number;
  body: string;
}

/** Reporting on GitLab: merge request notes, merge requests, commit statuses and job retries. */
export function gitlabReporter(
  client: GitLabClient,
  input: ReportInput,
  cloneUrl: string,
  webUrl: string,
): Reporter {
  const { source } = input;
  const project = `/projects/${source.projectId}`;
  const mr = source.changeRequests[0];
  const marker = reportMarker(source);

  return {
    async upsertComment(body) {
      if (mr === undefined) {
        await client.json('POST', `${project}/repository/commits/${source.headSha}/comments`, {
          body: { note: body },
        });
        return `${webUrl}/-/commit/${source.headSha}`;
      }
      const notes = await client.all<Note>(`${project}/merge_requests/${mr}/notes`, { sort: 'asc' });
      const mine = notes.find((note) => note.body.includes(marker));
      const note = mine
        ? await client.json<Note>('PUT', `${project}/merge_requests/${mr}/notes/${mine.id}`, {
            body: { body },
          })
        : await client.json<Note>('POST', `${project}/merge_requests/${mr}/notes`, { body: { body } });
      return `${webUrl}/-/merge_requests/${mr}#note_${note.id}`;
    },

    async openChangeRequest(branch, title, body) {
      // A job delivered again finds the merge request its earlier run opened (GitLab refuses a second one).
      const [open] = await client.all<{ iid: number; web_url: string }>(`${project}/merge_requests`, {
        source_branch: branch,
        state: 'opened',
      });
      if (open) {
        await client.json('PUT', `${project}/merge_requests/${open.iid}`, {
          body: { title, description: body },
        });
        return open.web_url;
      }
      const created = await client.json<{ web_url: string }>('POST', `${project}/merge_requests`, {
        body: {
          source_branch: branch,
          target_branch: source.headBranch,
          title,
          description: body,
          remove_source_branch: true,
        },
      });
      return created.web_url;
    },

    async checkRun(title) {
      await client.json('POST', `${project}/statuses/${source.headSha}`, {
        body: {
          state: input.result.outcome === 'fixed' ? 'success' : 'failed',
          name: 'ci-fixer',
          description: title.slice(0, 255),
          ...(source.runUrl ? { target_url: source.runUrl } : {}),
        },
      });
      return `${webUrl}/-/commit/${source.headSha}`;
    },

    async rerunFailed(jobIds) {
      for (const id of jobIds) await client.json('POST', `${project}/jobs/${id}/retry`);
    },

    async pushFix(branch, message) {
      return pushPatch({
        cloneUrl,
        baseSha: input.result.baseSha ?? source.headSha,
        patch: input.result.patch!,
        branch,
        message,
        authHeader: basicAuthHeader('oauth2', client.gitToken),
      });
    },
  };
}

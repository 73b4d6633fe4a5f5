import type { Candidate } from './policy.ts';
import { describeIssue, pipelinePayload, pipelineRouting } from './schemas.ts';

export type GitLabEventDecision =
  | { kind: 'ignored'; reason: string }
  | { kind: 'invalid'; reason: string }
  | { kind: 'candidate'; candidate: Candidate };

/**
 * Acts on a `Pipeline Hook` whose pipeline failed and whose fields have the shape GitLab documents;
 * everything else is ignored or `invalid` (the receiver answers both with 2xx, so GitLab keeps the hook).
 */
export function decideGitLabEvent(event: string, payload: unknown, deliveryId: string): GitLabEventDecision {
  const ignoredEvent = {
    kind: 'ignored',
    reason: `ci-fixer acts on Pipeline Hook events; ${event} is ignored`,
  } as const;
  if (event !== 'Pipeline Hook') return ignoredEvent;
  const routing = pipelineRouting.safeParse(payload);
  if (!routing.success) return { kind: 'invalid', reason: describeIssue(routing.error) };
  if (routing.data.object_kind !== 'pipeline') return ignoredEvent;
  const status = routing.data.object_attributes?.status;
  if (status !== 'failed') {
    return {
      kind: 'ignored',
      reason: `the pipeline is ${String(status)}; only failed pipelines are fixed`,
    };
  }
  const parsed = pipelinePayload.safeParse(payload);
  if (!parsed.success) return { kind: 'invalid', reason: describeIssue(parsed.error) };
  const { object_attributes: pipeline, project, commit } = parsed.data;
  const mr = parsed.data.merge_request ?? null;
  const fork =
    mr !== null && mr.source_project_id !== undefined && mr.source_project_id !== mr.target_project_id;
  return {
    kind: 'candidate',
    candidate: {
      cloneUrl: project.git_http_url,
      headCommitMessage: commit?.message ?? '',
      source: {
        forge: 'gitlab',
        repo: project.path_with_namespace,
        projectId: project.id,
        fork,
        ...(fork ? { headRepo: `project ${mr.source_project_id}` } : {}),
        headSha: pipeline.sha,
        headBranch: mr?.source_branch ?? (pipeline.tag ? null : pipeline.ref),
        changeRequests: mr ? [mr.iid] : [],
        runId: pipeline.id,
        runAttempt: 1,
        workflowPath: project.ci_config_path || '.gitlab-ci.yml',
        runUrl: pipeline.url ?? null,
        deliveryId,
      },
    },
  };
}

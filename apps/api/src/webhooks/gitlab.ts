import type { Candidate } from './policy.ts';

export type GitLabEventDecision =
  { kind: 'ignored'; reason: string } | { kind: 'candidate'; candidate: Candidate };

interface PipelinePayload {
  object_kind?: string;
  object_attributes?: {
    id?: number;
    ref?: string;
    tag?: boolean;
    sha?: string;
    status?: string;
    url?: string;
  };
  merge_request?: {
    iid?: number;
    source_branch?: string;
    source_project_id?: number;
    target_project_id?: number;
  } | null;
  project?: {
    id?: number;
    path_with_namespace?: string;
    git_http_url?: string;
    ci_config_path?: string | null;
  };
  commit?: { message?: string } | null;
}

/** Acts on a `Pipeline Hook` whose pipeline failed; everything else is ignored (with 2xx, so GitLab keeps the hook). */
export function decideGitLabEvent(event: string, payload: unknown, deliveryId: string): GitLabEventDecision {
  const body = payload as PipelinePayload;
  if (event !== 'Pipeline Hook' || body.object_kind !== 'pipeline') {
    return { kind: 'ignored', reason: `ci-fixer acts on Pipeline Hook events; ${event} is ignored` };
  }
  const pipeline = body.object_attributes;
  if (pipeline?.status !== 'failed') {
    return {
      kind: 'ignored',
      reason: `the pipeline is ${String(pipeline?.status)}; only failed pipelines are fixed`,
    };
  }
  const project = body.project;
  if (
    typeof pipeline.id !== 'number' ||
    !pipeline.sha ||
    typeof project?.id !== 'number' ||
    !project.path_with_namespace ||
    !project.git_http_url
  ) {
    return {
      kind: 'ignored',
      reason: 'the payload lacks object_attributes.id, sha or project id, path or git_http_url',
    };
  }
  const mr = body.merge_request ?? null;
  const fork =
    mr !== null && mr.source_project_id !== undefined && mr.source_project_id !== mr.target_project_id;
  return {
    kind: 'candidate',
    candidate: {
      cloneUrl: project.git_http_url,
      headCommitMessage: body.commit?.message ?? '',
      source: {
        forge: 'gitlab',
        repo: project.path_with_namespace,
        projectId: project.id,
        fork,
        ...(fork ? { headRepo: `project ${mr!.source_project_id}` } : {}),
        headSha: pipeline.sha.toLowerCase(),
        headBranch: mr?.source_branch ?? (pipeline.tag ? null : (pipeline.ref ?? null)),
        changeRequests: typeof mr?.iid === 'number' ? [mr.iid] : [],
        runId: pipeline.id,
        runAttempt: 1,
        workflowPath: project.ci_config_path || '.gitlab-ci.yml',
        runUrl: pipeline.url ?? null,
        deliveryId,
      },
    },
  };
}

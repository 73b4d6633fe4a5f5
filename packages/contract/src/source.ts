/**
 * Where a fix job came from when a forge webhook started it, and how its result went back. The API fills
 * `ForgeSource` from the webhook; the worker uses it to recover the failing command and to report.
 */
export const FORGES = ['github', 'gitlab'] as const;
export type Forge = (typeof FORGES)[number];

export interface ForgeSource {
  forge: Forge;
  /** `owner/name` on GitHub; the project's `path_with_namespace` on GitLab. */
  repo: string;
  /** GitLab's numeric project id. */
  projectId?: number;
  /** The GitHub App installation that sent the event, for installation tokens. */
  installationId?: number;
  /** The repository the failing commit lives in, when it is not `repo` (a fork). */
  headRepo?: string;
  fork: boolean;
  headSha: string;
  headBranch: string | null;
  /** Pull request numbers (GitHub) or merge request iids (GitLab) the run belongs to. */
  changeRequests: number[];
  /** Workflow run id (GitHub) or pipeline id (GitLab). */
  runId: number;
  runAttempt: number;
  /** `.github/workflows/<file>.yml`, or `.gitlab-ci.yml`. */
  workflowPath: string | null;
  runUrl: string | null;
  deliveryId: string;
}

/** The command of a forge job before the worker recovers it from the failed CI job. */
export const COMMAND_FROM_SOURCE = '(recovered by the worker from the failed CI job)';

export const REPORT_MODES = ['comment', 'pull-request', 'push', 'check-run', 'none'] as const;
export type ReportMode = (typeof REPORT_MODES)[number];

/** What reporting a result back to the forge did. A failed report never changes the fix outcome. */
export interface ForgeReport {
  mode: ReportMode;
  status: 'reported' | 'skipped' | 'failed';
  detail: string;
  /** The comment, pull request, branch or check run a person can open. */
  url?: string;
  /** A flaky failure whose failed jobs were re-run. */
  rerun?: boolean;
}

/** Branches ci-fixer pushes fixes to start with this; runs on them are never fixed again. */
export const FIX_BRANCH_PREFIX = 'ci-fixer/';
/** Trailer on every commit ci-fixer makes; runs on such commits are never fixed again. */
export const FIX_COMMIT_TRAILER = 'Fixed-by: ci-fixer';

import path from 'node:path';
import { FIX_BRANCH_PREFIX, FIX_COMMIT_TRAILER, type ForgeSource } from '@ci-fixer/contract';

/** Which failed runs ci-fixer acts on, from FORGE_* settings. */
export interface IntakePolicy {
  /** `owner/repo` globs, lower-case; empty allows every repository. */
  repositories: readonly string[];
  /** Branch globs; empty allows every branch. */
  branches: readonly string[];
  allowForks: boolean;
}

/** A failed run a webhook reported, before the policy decided on it. */
export interface Candidate {
  source: ForgeSource;
  cloneUrl: string;
  /** The message of the commit that failed, to recognise ci-fixer's own commits. */
  headCommitMessage: string;
}

/** The reason to ignore a candidate, or undefined to act on it. */
export function ignoreReason(candidate: Candidate, policy: IntakePolicy): string | undefined {
  const { source } = candidate;
  const repo = source.repo.toLowerCase();
  if (
    policy.repositories.length > 0 &&
    !policy.repositories.some((glob) => matches(repo, glob.toLowerCase()))
  ) {
    return `repository ${source.repo} is not in FORGE_REPOSITORIES`;
  }
  if (source.fork && !policy.allowForks) {
    return `the commit comes from the fork ${source.headRepo ?? '(unknown)'}; set FORGE_ALLOW_FORKS=true to fix forks`;
  }
  if (source.headBranch?.startsWith(FIX_BRANCH_PREFIX)) {
    return `branch ${source.headBranch} is a ci-fixer branch; its runs are not fixed again`;
  }
  if (candidate.headCommitMessage.includes(FIX_COMMIT_TRAILER)) {
    return `commit ${source.headSha.slice(0, 12)} was made by ci-fixer; its runs are not fixed again`;
  }
  if (policy.branches.length > 0) {
    if (!source.headBranch) return 'the run is not on a branch and FORGE_BRANCHES is set';
    if (!policy.branches.some((glob) => matches(source.headBranch!, glob))) {
      return `branch ${source.headBranch} does not match FORGE_BRANCHES`;
    }
  }
  return undefined;
}

function matches(value: string, glob: string): boolean {
  return path.posix.matchesGlob(value, glob);
}

/** What the loop guard counts: fix attempts per pull/merge request, or per branch without one. */
export function guardSubject(source: ForgeSource): string {
  const change = source.changeRequests[0];
  return change !== undefined ? `change:${change}` : `branch:${source.headBranch ?? source.headSha}`;
}

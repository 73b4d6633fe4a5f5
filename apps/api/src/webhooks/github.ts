import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Candidate } from './policy.ts';
import { describeIssue, workflowRunPayload, workflowRunRouting } from './schemas.ts';

/** GitHub signs the raw body: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`. */
export function verifyGitHubSignature(secret: string, body: Buffer, header: string): boolean {
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!match) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(match[1]!, 'hex'));
}

export type GitHubEventDecision =
  | { kind: 'ping' }
  | { kind: 'ignored'; reason: string }
  | { kind: 'invalid'; reason: string }
  | { kind: 'candidate'; candidate: Candidate };

const FAILED_CONCLUSIONS = new Set(['failure', 'timed_out']);

/**
 * Routes on `X-GitHub-Event` plus `action`; only failed or timed-out workflow runs become fix candidates, and
 * only when every field a fix job uses has the shape GitHub documents (`invalid` otherwise, with the field).
 */
export function decideGitHubEvent(event: string, payload: unknown, deliveryId: string): GitHubEventDecision {
  if (event === 'ping') return { kind: 'ping' };
  if (event !== 'workflow_run') {
    return { kind: 'ignored', reason: `ci-fixer acts on workflow_run events; ${event} is ignored` };
  }
  const routing = workflowRunRouting.safeParse(payload);
  if (!routing.success) return { kind: 'invalid', reason: describeIssue(routing.error) };
  const { action, workflow_run: routed } = routing.data;
  if (action !== 'completed') {
    return {
      kind: 'ignored',
      reason: `workflow_run action ${action} is ignored; only completed runs are fixed`,
    };
  }
  if (!routed.conclusion || !FAILED_CONCLUSIONS.has(routed.conclusion)) {
    return {
      kind: 'ignored',
      reason: `the run concluded ${String(routed.conclusion)}; only failure and timed_out are fixed`,
    };
  }
  const parsed = workflowRunPayload.safeParse(payload);
  if (!parsed.success) return { kind: 'invalid', reason: describeIssue(parsed.error) };
  const { repository, installation, workflow_run: run } = parsed.data;
  const repo = repository.full_name;
  const headRepo = run.head_repository?.full_name ?? repo;
  return {
    kind: 'candidate',
    candidate: {
      cloneUrl: repository.clone_url,
      headCommitMessage: run.head_commit?.message ?? '',
      source: {
        forge: 'github',
        repo,
        ...(installation ? { installationId: installation.id } : {}),
        headRepo,
        fork: headRepo.toLowerCase() !== repo.toLowerCase(),
        headSha: run.head_sha,
        headBranch: run.head_branch ?? null,
        changeRequests: (run.pull_requests ?? []).map((pr) => pr.number),
        runId: run.id,
        runAttempt: run.run_attempt,
        workflowPath: run.path ?? null,
        runUrl: run.html_url ?? null,
        deliveryId,
      },
    },
  };
}

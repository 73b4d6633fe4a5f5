import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Candidate } from './policy.ts';

/** GitHub signs the raw body: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`. */
export function verifyGitHubSignature(secret: string, body: Buffer, header: string): boolean {
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!match) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(match[1]!, 'hex'));
}

export type GitHubEventDecision =
  { kind: 'ping' } | { kind: 'ignored'; reason: string } | { kind: 'candidate'; candidate: Candidate };

interface WorkflowRunPayload {
  action?: string;
  installation?: { id?: number };
  repository?: { full_name?: string; clone_url?: string };
  workflow_run?: {
    id?: number;
    run_attempt?: number;
    conclusion?: string | null;
    head_sha?: string;
    head_branch?: string | null;
    path?: string;
    html_url?: string;
    head_commit?: { message?: string } | null;
    head_repository?: { full_name?: string } | null;
    pull_requests?: { number?: number }[];
  };
}

const FAILED_CONCLUSIONS = new Set(['failure', 'timed_out']);

/** Routes on `X-GitHub-Event` plus `action`; only failed or timed-out workflow runs become fix candidates. */
export function decideGitHubEvent(event: string, payload: unknown, deliveryId: string): GitHubEventDecision {
  if (event === 'ping') return { kind: 'ping' };
  if (event !== 'workflow_run') {
    return { kind: 'ignored', reason: `ci-fixer acts on workflow_run events; ${event} is ignored` };
  }
  const body = payload as WorkflowRunPayload;
  if (body.action !== 'completed') {
    return {
      kind: 'ignored',
      reason: `workflow_run action ${String(body.action)} is ignored; only completed runs are fixed`,
    };
  }
  const run = body.workflow_run;
  const conclusion = run?.conclusion ?? null;
  if (!conclusion || !FAILED_CONCLUSIONS.has(conclusion)) {
    return {
      kind: 'ignored',
      reason: `the run concluded ${String(conclusion)}; only failure and timed_out are fixed`,
    };
  }
  const repo = body.repository?.full_name;
  if (!run || !repo || !body.repository?.clone_url || typeof run.id !== 'number' || !run.head_sha) {
    return {
      kind: 'ignored',
      reason: 'the payload lacks repository.full_name, clone_url, workflow_run.id or head_sha',
    };
  }
  const headRepo = run.head_repository?.full_name ?? repo;
  return {
    kind: 'candidate',
    candidate: {
      cloneUrl: body.repository.clone_url,
      headCommitMessage: run.head_commit?.message ?? '',
      source: {
        forge: 'github',
        repo,
        ...(typeof body.installation?.id === 'number' ? { installationId: body.installation.id } : {}),
        headRepo,
        fork: headRepo.toLowerCase() !== repo.toLowerCase(),
        headSha: run.head_sha.toLowerCase(),
        headBranch: run.head_branch ?? null,
        changeRequests: (run.pull_requests ?? [])
          .map((pr) => pr.number)
          .filter((n): n is number => typeof n === 'number'),
        runId: run.id,
        runAttempt: run.run_attempt ?? 1,
        workflowPath: run.path ?? null,
        runUrl: run.html_url ?? null,
        deliveryId,
      },
    },
  };
}

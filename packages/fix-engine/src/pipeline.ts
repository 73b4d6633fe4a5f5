import type { FixResult } from '@ci-fixer/contract';
import type { ExecResult } from '@ci-fixer/sandbox';
import { planCommand } from './command/invocations.ts';
import { toolChecks } from './command/tools.ts';
import { PlatformError } from '@ci-fixer/contract';
import { agentStage } from './pipeline/agent.ts';
import { FixContext, type FixOptions } from './pipeline/context.ts';
import { diagnoseFailure, withProbes } from './pipeline/diagnosis.ts';
import { applyRecipes, install } from './pipeline/fixing.ts';
import { tryCandidate, verifyAndFinish } from './pipeline/verify.ts';
import { checkOut } from './pipeline/workspace.ts';

export { PlatformError, type FixOptions };

const MAX_ROUNDS = 3;

/**
 * Clone → install → reproduce → diagnose → fix (recipes, then the agent) → verify, inside one sandbox.
 * Returns an outcome for anything the repository caused; throws PlatformError for what the platform did.
 *
 * The stages live in pipeline/: the checkout (workspace.ts, over work-tree.ts), every command and its step
 * record (steps.ts), install and recipes (fixing.ts), diagnosis and probes, verification, the agent; what
 * they share is a FixContext.
 */
export async function runFix(options: FixOptions): Promise<FixResult> {
  const ctx = new FixContext(options);
  const { sandbox, request } = options;
  await ctx.steps.enter('cloning');
  const checkout = await checkOut(ctx.steps, sandbox, request.repo, options.gitAuthHeader);
  ctx.baseSha = checkout.baseSha;
  ctx.tree = checkout.tree;
  if (ctx.cwd && (await sandbox.exec(['test', '-d', ctx.cwd])).exitCode !== 0)
    return ctx.finish('unfixable', `the working directory ${ctx.cwd} does not exist in the repository`, null);
  ctx.plan = await planCommand(request.command, ctx.cwd, (file) =>
    sandbox
      .readFile(file)
      .then((data) => data.toString())
      .catch(() => undefined),
  );
  ctx.checks = toolChecks(ctx.plan);
  await install(ctx);

  await ctx.steps.enter('reproducing');
  const beforeRun = await ctx.tree.snapshot();
  let failure = await reproduce(ctx);
  if (!failure) {
    if (ctx.fixedFiles.size > 0) return verifyAndFinish(ctx, null);
    return ctx.finish('not_reproducible', 'the command passed twice in the sandbox', null);
  }

  await ctx.steps.enter('diagnosing');
  const written = (await ctx.tree.rewrittenSince(beforeRun)).filter((file) => ctx.allowed(file));
  let original = diagnoseFailure(ctx, failure, request.command);
  // A check that fixes while it fails (`go fmt ./... && git diff --exit-code`) left the fix in the tree.
  if (written.length > 0) {
    const fixed = await tryCandidate(ctx, written, 'check-output', original);
    if (fixed) return fixed;
  }
  original = await withProbes(ctx, original, failure);
  let diagnosis = original;

  for (let round = 1; round <= MAX_ROUNDS; round++) {
    await ctx.steps.enter('fixing');
    const applied = await applyRecipes(ctx, diagnosis);
    if (applied.length === 0) break;
    await ctx.steps.enter('verifying');
    failure = await ctx.runCommitted();
    if (failure.exitCode === 0) return verifyAndFinish(ctx, original, failure);
    diagnosis = await withProbes(ctx, diagnoseFailure(ctx, failure, request.command), failure);
  }

  if (options.agent) return agentStage(ctx, original, diagnosis, failure);
  const killed = ctx.killed(failure);
  const tried = ctx.strategies;
  const reason = killed
    ? `${killed}${tried.length ? ` after ${tried.join(', ')}` : ''}`
    : tried.length === 0
      ? `no deterministic recipe fits this failure (${diagnosis.summary})`
      : `still failing after ${tried.join(', ')}, and no recipe fits what remains (${diagnosis.summary})`;
  return ctx.finish('unfixable', reason, original);
}

/** Runs the command; a pass is confirmed by a second run, since a failure that does not recur may be flaky. */
async function reproduce(ctx: FixContext): Promise<ExecResult | undefined> {
  const first = await ctx.runCommand();
  if (first.exitCode !== 0) return first;
  if (ctx.fixedFiles.size > 0) return undefined;
  const second = await ctx.runCommand();
  if (second.exitCode === 0) return undefined;
  ctx.flaky = true;
  return second;
}

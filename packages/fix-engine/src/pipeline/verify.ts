import type { Diagnosis, FixResult } from '@ci-fixer/contract';
import type { ExecResult } from '@ci-fixer/sandbox';
import * as patchGuard from '../patch-guard.ts';
import type { FixContext } from './context.ts';

/**
 * The command must pass, then the broader verify command; and the patch must keep to the guardrails.
 * `passed` is a run of the command with exactly these files committed that passed already: not run again.
 */
export async function verifyAndFinish(
  ctx: FixContext,
  original: Diagnosis | null,
  passed?: ExecResult,
): Promise<FixResult> {
  return (await verifyFix(ctx, original, undefined, passed))!;
}

/**
 * A candidate fix that may well be wrong (what the failing command left in the tree): verified like any
 * other, but when it does not hold, it is rolled back and the run goes on without it.
 */
export async function tryCandidate(
  ctx: FixContext,
  files: string[],
  strategy: string,
  original: Diagnosis,
): Promise<FixResult | undefined> {
  const candidate = files.filter((file) => !ctx.fixedFiles.has(file));
  candidate.forEach((file) => ctx.fixedFiles.add(file));
  ctx.strategies.push(strategy);
  const result = await verifyFix(ctx, original, candidate);
  if (result) return result;
  candidate.forEach((file) => ctx.fixedFiles.delete(file));
  ctx.strategies.pop();
  return undefined;
}

/** Verifies the fix; a tentative candidate that fails is rolled back and answered with undefined. */
async function verifyFix(
  ctx: FixContext,
  original: Diagnosis | null,
  tentative?: string[],
  passed?: ExecResult,
): Promise<FixResult | undefined> {
  await ctx.steps.enter('verifying');
  const fail = async (reason: string) => {
    if (!tentative) return ctx.finish('unfixable', reason, original);
    await ctx.tree.rollback(tentative);
    return undefined;
  };
  const patch = await ctx.tree.patch([...ctx.fixedFiles]);
  const violations = await guard(ctx, patch);
  if (violations.length > 0) {
    if (tentative) ctx.refusals.push(...violations);
    else await ctx.tree.rollback([...ctx.fixedFiles]);
    return fail(violations.join('; '));
  }
  const strategy = [...new Set(ctx.strategies)].join('+');
  const command = passed ?? (await ctx.runCommitted());
  if (command.exitCode !== 0) {
    const killed = ctx.killed(command);
    return fail(`${killed ?? 'the command still fails'} after ${strategy}`);
  }
  const verify = ctx.options.request.verifyCommand;
  if (verify && (await ctx.runCommitted(verify)).exitCode !== 0)
    return fail(`the command passes after ${strategy}, but the verify command \`${verify}\` fails`);
  return ctx.finish('fixed', `the command passes after ${ctx.strategies.join(', ')}`, original, {
    patch,
    strategy,
  });
}

/** The patch guard, reading what it needs (package.json before and after, GitLab includes) through git. */
function guard(ctx: FixContext, patch: string): Promise<string[]> {
  return patchGuard.guardTree(
    patch,
    ctx.policy,
    ctx.baseSha!,
    [...ctx.fixedFiles],
    ctx.agentFiles,
    async (spec) => {
      const shown = await ctx.steps.exec(['git', 'show', spec], { record: false, cwd: '' });
      return shown.exitCode === 0 ? shown.stdout : undefined;
    },
  );
}

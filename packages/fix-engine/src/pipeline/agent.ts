import type { Diagnosis, FixResult } from '@ci-fixer/contract';
import type { ExecResult } from '@ci-fixer/sandbox';
import { runAgent } from '../agent/loop.ts';
import { changedSince } from '../work-tree.ts';
import type { FixContext } from './context.ts';
import { verifyAndFinish } from './verify.ts';

/** The LLM agent, when no recipe fixed the failure: what it edits is verified like a recipe's change. */
export async function agentStage(
  ctx: FixContext,
  original: Diagnosis,
  current: Diagnosis,
  failure: ExecResult,
): Promise<FixResult> {
  await ctx.steps.enter('fixing');
  const before = await ctx.tree.snapshot();
  const result = await runAgent(ctx.options.agent!, {
    request: ctx.options.request,
    diagnosis: current,
    failureOutput: `${failure.stdout}\n${failure.stderr}`,
    cwd: ctx.cwd,
    tools: {
      sandbox: ctx.sandbox,
      run: (argv) => ctx.steps.exec(argv),
      ...(ctx.options.signal ? { signal: ctx.options.signal } : {}),
    },
  });
  ctx.agentUsage = result.usage;
  const edited = [...new Set([...changedSince(before, await ctx.tree.snapshot()), ...result.edited])];
  if (result.usage.stoppedBecause !== 'done' || edited.length === 0) {
    await ctx.tree.rollback(edited);
    return ctx.finish('unfixable', `the agent found no fix: ${result.summary}`, original);
  }
  edited.forEach((file) => {
    ctx.fixedFiles.add(file);
    ctx.agentFiles.add(file);
  });
  ctx.strategies.push('agent');
  return verifyAndFinish(ctx, original);
}

import path from 'node:path';
import type { Diagnosis } from '@ci-fixer/contract';
import type { ExecResult } from '@ci-fixer/sandbox';
import { ecosystemsOf, flagsFor } from '../command/tools.ts';
import { installArgv, toolchainsToInstall } from '../install-plan.ts';
import * as patchGuard from '../patch-guard.ts';
import { RECIPES } from '../recipes/index.ts';
import type { Toolchain } from '../toolchain.ts';
import { changedSince } from '../work-tree.ts';
import type { FixContext } from './context.ts';
import { diagnoseFailure } from './diagnosis.ts';

/**
 * Runs every recipe that claims files of the diagnosis; a recipe that changes a file it did not claim is
 * rolled back. Answers the recipes that changed something.
 */
export async function applyRecipes(ctx: FixContext, diagnosis: Diagnosis): Promise<string[]> {
  const applied: string[] = [];
  for (const recipe of RECIPES) {
    // What the tool reported is untrusted: a file it names is passed on only if it is not protected.
    const claimed = recipe.claims(diagnosis, ctx.cwd).filter((file) => ctx.allowed(file));
    if (claimed.length === 0) continue;
    const executable = await ctx.findExecutable(recipe);
    if (!executable) continue;
    const before = await ctx.tree.snapshot();
    const files = claimed.map((file) => path.posix.relative(ctx.cwd || '.', file) || '.');
    await ctx.steps.exec(
      recipe.command(executable, files, recipe.tool ? flagsFor(ctx.checks, recipe.tool) : []),
    );
    const touched = changedSince(before, await ctx.tree.snapshot());
    const outside = touched.filter((file) => !claimed.includes(file));
    if (outside.length > 0) {
      await ctx.tree.rollback(touched);
      if (outside.every((file) => ctx.allowed(file)))
        ctx.refusals.push(patchGuard.unreported(recipe.name, outside));
      continue;
    }
    if (touched.length > 0) {
      touched.forEach((file) => ctx.fixedFiles.add(file));
      applied.push(recipe.name);
      ctx.strategies.push(recipe.name);
    }
  }
  return applied;
}

/**
 * Installs dependencies as CI would, for the ecosystems the check uses. A lockfile out of step with its
 * manifest is repaired by a recipe and the install tried again; any other failure is kept for the reason,
 * and the check runs anyway: the tools it needs may be there (a formatter on the worker), and a check
 * that passes is `not_reproducible` whatever the install said.
 */
export async function install(ctx: FixContext): Promise<void> {
  await ctx.steps.enter('installing');
  const { toolchains, install } = await toolchainsToInstall(ctx.sandbox, ctx.cwd, ecosystemsOf(ctx.plan));
  ctx.toolchains = toolchains;
  for (let attempt = 1; ; attempt++) {
    const failed = await installOnce(ctx, install);
    if (!failed) return;
    const shown = failed.toolchain.install!.join(' ');
    const diagnosis = diagnoseFailure(ctx, failed.result, shown);
    for (const finding of diagnosis.findings) {
      if (finding.category === 'unknown')
        Object.assign(finding, { category: 'dependency', tool: failed.toolchain.install![0] });
    }
    if (attempt === 1) {
      await ctx.steps.enter('fixing');
      if ((await applyRecipes(ctx, diagnosis)).length > 0) {
        await ctx.steps.enter('installing');
        continue;
      }
    }
    const killed = ctx.killed(failed.result);
    ctx.installFailure = `${shown}: ${killed ?? diagnosis.summary}`;
    return;
  }
}

async function installOnce(
  ctx: FixContext,
  install: readonly Toolchain[],
): Promise<{ toolchain: Toolchain; result: ExecResult } | undefined> {
  for (const toolchain of install) {
    const result = await ctx.steps.exec(await installArgv(toolchain, (name) => ctx.steps.onPath(name)));
    if (result.exitCode !== 0) return { toolchain, result };
  }
  return undefined;
}

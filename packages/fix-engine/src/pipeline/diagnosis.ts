import type { Diagnosis } from '@ci-fixer/contract';
import type { ExecResult } from '@ci-fixer/sandbox';
import { askTools } from '../command/probes.ts';
import { diagnose } from '../diagnose/index.ts';
import type { FixContext } from './context.ts';

/** The failure read from its output (or the CI logs when the output names nothing); a kill says so instead. */
export function diagnoseFailure(ctx: FixContext, result: ExecResult, command: string): Diagnosis {
  const killed = ctx.killed(result);
  if (killed)
    return { summary: killed, findings: [{ category: 'unknown', tool: 'unknown', message: killed }] };
  const goModule = ctx.toolchains.find((toolchain) => toolchain.goModule)?.goModule;
  const context = { cwd: ctx.cwd, command, ...(goModule ? { goModule } : {}) };
  const diagnosis = diagnose(`${result.stdout}\n${result.stderr}`, ctx.sandbox.workdir, context);
  const logs = ctx.options.request.logs;
  if (diagnosis.findings.every((finding) => finding.category === 'unknown') && logs) {
    const fromLogs = diagnose(logs, ctx.sandbox.workdir, context);
    if (fromLogs.findings.some((finding) => finding.category !== 'unknown')) return fromLogs;
  }
  return diagnosis;
}

/**
 * When the output names nothing, the tools the command names are asked what they would change, with the
 * check's own options, in its directory (so with the repository's configuration).
 */
export async function withProbes(
  ctx: FixContext,
  diagnosis: Diagnosis,
  failure: ExecResult,
): Promise<Diagnosis> {
  const unnamed = diagnosis.findings.every((finding) => finding.category === 'unknown');
  if (!unnamed || ctx.killed(failure)) return diagnosis;
  const asked = await askTools(ctx.checks, {
    workdir: ctx.sandbox.workdir,
    findExecutable: (recipe, dir) => ctx.findExecutable(recipe, dir),
    exec: (argv, dir) => ctx.steps.exec(argv, { cwd: dir }),
  });
  return asked ?? diagnosis;
}

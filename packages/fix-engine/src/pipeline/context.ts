import path from 'node:path';
import type { AgentUsage, Diagnosis, FixRequest, FixResult, JobProgress, Outcome } from '@ci-fixer/contract';
import type { ExecResult, Sandbox, SandboxLimits } from '@ci-fixer/sandbox';
import type { AgentOptions } from '../agent/loop.ts';
import type { CommandPlan } from '../command/invocations.ts';
import type { ToolCheck } from '../command/tools.ts';
import { killReason } from '../kill-reason.ts';
import * as patchGuard from '../patch-guard.ts';
import type { Recipe } from '../recipes/index.ts';
import type { Toolchain } from '../toolchain.ts';
import type { WorkTree } from '../work-tree.ts';
import { StepRunner } from './steps.ts';

export interface FixOptions {
  sandbox: Sandbox;
  request: FixRequest;
  /** Limit for each command the engine runs. */
  commandTimeoutMs: number;
  /** The sandbox's limits, named with their sizes in the reason of a command that hit one. */
  limits?: SandboxLimits;
  /** Aborting stops the running command and ends the fix with the signal's reason. */
  signal?: AbortSignal;
  onProgress?: (progress: JobProgress) => void | Promise<void>;
  /**
   * An HTTP Authorization header value for fetching the repository (a forge token). It reaches git through
   * the environment of the fetch commands alone: never argv, .git/config, the remote URL or a step record.
   */
  gitAuthHeader?: string;
  /** Raw output of every command, for a person watching (the CLI). */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  /** The LLM agent, tried when no recipe fixes the failure; absent when no model is configured. */
  agent?: AgentOptions;
  /** Extra protected paths and patch limits (FIX_PROTECTED_PATHS, FIX_MAX_PATCH_*); safe defaults without. */
  patchGuard?: patchGuard.PatchGuardConfig;
}

/** What the stages of one fix share: the sandbox and its steps, the checkout, and what was changed and why. */
export class FixContext {
  readonly options: FixOptions;
  readonly sandbox: Sandbox;
  readonly steps: StepRunner;
  readonly cwd: string;
  readonly policy: patchGuard.PatchPolicy;
  private readonly started = performance.now();
  baseSha: string | null = null;
  /** The checkout, through git; set once cloned. */
  tree!: WorkTree;
  toolchains: Toolchain[] = [];
  /** What the command runs, read from it and the scripts it calls (never executed for that). */
  plan: CommandPlan = { invocations: [], opaque: [] };
  checks: ToolCheck[] = [];
  readonly fixedFiles = new Set<string>();
  /** Files the agent changed: the check-configuration rules of the patch guard apply to these. */
  readonly agentFiles = new Set<string>();
  /** Why a change was refused: named in the reason when the run ends without a fix. */
  readonly refusals: string[] = [];
  readonly strategies: string[] = [];
  /** Why installing dependencies failed, when it did: the check still runs, and the reason says so. */
  installFailure: string | undefined;
  flaky = false;
  agentUsage: AgentUsage | undefined;

  constructor(options: FixOptions) {
    this.options = options;
    this.sandbox = options.sandbox;
    this.cwd = path.posix.normalize(options.request.workingDirectory ?? '.').replace(/^\.$/, '');
    this.policy = patchGuard.patchPolicy(options.patchGuard);
    this.steps = new StepRunner({
      sandbox: options.sandbox,
      cwd: this.cwd,
      repoUrl: options.request.repo.url,
      commandTimeoutMs: options.commandTimeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.onOutput ? { onOutput: options.onOutput } : {}),
    });
  }

  /** Whether a file may be changed by any producer; a refusal is kept for the reason. */
  allowed(file: string): boolean {
    const violation = patchGuard.protectedPathViolation(file, this.policy);
    if (violation) this.refusals.push(violation);
    return !violation;
  }

  /** The recipe's program, as a path relative to `dir` (where it will run) or a name on PATH. */
  async findExecutable(recipe: Recipe, dir = this.cwd): Promise<string | undefined> {
    for (const candidate of recipe.executables) {
      if (!candidate.includes('/')) {
        if (await this.steps.onPath(candidate)) return candidate;
        continue;
      }
      for (const base of new Set([dir, this.cwd, ''])) {
        const inRepo = path.posix.join(base || '.', candidate);
        if ((await this.sandbox.exec(['test', '-x', inRepo])).exitCode === 0)
          return path.posix.relative(dir || '.', inRepo);
      }
    }
    return undefined;
  }

  killed(result: ExecResult): string | undefined {
    return killReason(result, { ...this.options.limits, timeoutMs: this.options.commandTimeoutMs });
  }

  runCommand(): Promise<ExecResult> {
    return this.steps.shell(this.options.request.command);
  }

  /** The command (or another) with the fix committed, as CI will see it. */
  runCommitted(command = this.options.request.command): Promise<ExecResult> {
    return this.tree.withCommitted([...this.fixedFiles], () => this.steps.shell(command));
  }

  finish(
    outcome: Outcome,
    reason: string,
    diagnosis: Diagnosis | null,
    fix: { patch: string; strategy: string } | null = null,
  ): FixResult {
    if (outcome !== 'fixed' && this.refusals.length > 0)
      reason = `${[...new Set(this.refusals)].join('; ')}: refused; ${reason}`;
    if (this.installFailure) {
      const install = `dependencies could not be installed: ${this.installFailure}`;
      reason = outcome === 'unfixable' ? `${install}; ${reason}` : `${reason} (${install})`;
    }
    return {
      outcome,
      reason: this.flaky ? `${reason} (the command passed once and failed once: it may be flaky)` : reason,
      diagnosis,
      patch: fix?.patch ?? null,
      strategy: fix?.strategy ?? null,
      baseSha: this.baseSha,
      steps: this.steps.steps,
      durationMs: Math.round(performance.now() - this.started),
      ...(this.flaky ? { flaky: true } : {}),
      ...(this.agentUsage ? { agent: this.agentUsage } : {}),
    };
  }
}

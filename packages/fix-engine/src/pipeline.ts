import path from 'node:path';
import type {
  AgentUsage,
  Diagnosis,
  FixRequest,
  FixResult,
  JobProgress,
  Outcome,
  Stage,
  Step,
} from '@ci-fixer/jobs';
import type { ExecResult, Sandbox, SandboxLimits } from '@ci-fixer/sandbox';
import { runAgent, type AgentOptions } from './agent/loop.ts';
import { cacheEnvironment } from './cache-env.ts';
import { planCommand, type CommandPlan } from './command/invocations.ts';
import { askTools } from './command/probes.ts';
import { ecosystemsOf, flagsFor, toolChecks, type ToolCheck } from './command/tools.ts';
import { diagnose } from './diagnose/index.ts';
import { gitProtocolEnv } from './git-env.ts';
import { killReason, sandboxEndedFromOutside } from './kill-reason.ts';
import * as patchGuard from './patch-guard.ts';
import { PlatformError } from './platform-error.ts';
import { RECIPES, type Recipe } from './recipes/index.ts';
import { installArgv, toolchainsToInstall } from './install-plan.ts';
import type { Toolchain } from './toolchain.ts';
import { changedSince, WorkTree } from './work-tree.ts';

export { PlatformError };

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

const MAX_ROUNDS = 3;
const LOG_TAIL_CHARS = 4000;
// Dependencies, caches and build droppings in the workspace must never show up in a patch.
const EXCLUDES = [
  'node_modules/',
  '.pnpm-store/',
  '.yarn/cache/',
  '.eslintcache',
  '__pycache__/',
  '*.pyc',
  '.pytest_cache/',
  '.mypy_cache/',
  '.venv/',
];

/**
 * Clone → install → reproduce → diagnose → fix (recipes, then the agent) → verify, inside one sandbox.
 * Returns an outcome for anything the repository caused; throws PlatformError for what the platform did.
 */
export async function runFix(options: FixOptions): Promise<FixResult> {
  return new FixRun(options).run();
}

class FixRun {
  private readonly options: FixOptions;
  private readonly steps: Step[] = [];
  private readonly started = performance.now();
  private readonly cwd: string;
  private readonly env: Record<string, string>;
  private stage: Stage = 'cloning';
  private baseSha: string | null = null;
  /** The checkout, through git; set once cloned. */
  private tree!: WorkTree;
  private toolchains: Toolchain[] = [];
  private readonly fixedFiles = new Set<string>();
  /** Files the agent changed: the check-configuration rules of the patch guard apply to these. */
  private readonly agentFiles = new Set<string>();
  /** Why a recipe's change was refused: named in the reason when the run ends without a fix. */
  private readonly refusals: string[] = [];
  private readonly policy: patchGuard.PatchPolicy;
  /** For every git command: the transports it may use (GIT_ALLOW_PROTOCOL). */
  private readonly git: Record<string, string>;
  private readonly strategies: string[] = [];
  private flaky = false;
  private agentUsage: AgentUsage | undefined;
  /** What the command runs, read from it and the scripts it calls (never executed for that). */
  private plan: CommandPlan = { invocations: [], opaque: [] };
  private checks: ToolCheck[] = [];
  /** Why installing dependencies failed, when it did: the check still runs, and the reason says so. */
  private installFailure: string | undefined;

  constructor(options: FixOptions) {
    this.options = options;
    this.cwd = path.posix.normalize(options.request.workingDirectory ?? '.').replace(/^\.$/, '');
    this.env = cacheEnvironment(options.sandbox.cacheDir);
    this.policy = patchGuard.patchPolicy(options.patchGuard);
    this.git = gitProtocolEnv(options.request.repo.url);
  }

  async run(): Promise<FixResult> {
    await this.clone();
    if (this.cwd && (await this.options.sandbox.exec(['test', '-d', this.cwd])).exitCode !== 0) {
      return this.finish(
        'unfixable',
        `the working directory ${this.cwd} does not exist in the repository`,
        null,
      );
    }
    this.plan = await planCommand(this.options.request.command, this.cwd, (file) =>
      this.options.sandbox
        .readFile(file)
        .then((data) => data.toString())
        .catch(() => undefined),
    );
    this.checks = toolChecks(this.plan);
    await this.install();

    await this.enter('reproducing');
    const beforeRun = await this.tree.snapshot();
    let failure = await this.reproduce();
    if (!failure) {
      if (this.fixedFiles.size > 0) return this.verifyAndFinish(null);
      return this.finish('not_reproducible', 'the command passed twice in the sandbox', null);
    }

    await this.enter('diagnosing');
    const written = (await this.tree.rewrittenSince(beforeRun)).filter((file) => this.allowed(file));
    let original = this.diagnoseFailure(failure, this.options.request.command);
    // A check that fixes while it fails (`go fmt ./... && git diff --exit-code`) left the fix in the tree.
    if (written.length > 0) {
      const fixed = await this.tryCandidate(written, 'check-output', original);
      if (fixed) return fixed;
    }
    original = await this.withProbes(original, failure);
    let diagnosis = original;

    for (let round = 1; round <= MAX_ROUNDS; round++) {
      await this.enter('fixing');
      const applied = await this.applyRecipes(diagnosis);
      if (applied.length === 0) break;
      await this.enter('verifying');
      failure = await this.runCommitted();
      if (failure.exitCode === 0) return this.verifyAndFinish(original);
      diagnosis = await this.withProbes(this.diagnoseFailure(failure, this.options.request.command), failure);
    }

    if (this.options.agent) return this.runAgent(original, diagnosis, failure);
    const killed = this.killed(failure);
    const reason = killed
      ? `${killed}${this.strategies.length ? ` after ${this.strategies.join(', ')}` : ''}`
      : this.strategies.length === 0
        ? `no deterministic recipe fits this failure (${diagnosis.summary})`
        : `still failing after ${this.strategies.join(', ')}, and no recipe fits what remains (${diagnosis.summary})`;
    return this.finish('unfixable', reason, original);
  }

  private async clone(): Promise<void> {
    await this.enter('cloning');
    const { url, sha, ref } = this.options.request.repo;
    await this.must(['git', 'init', '-q', '.'], 'git init');
    // Fetched by URL, never stored as a remote, so no URL (and later no credential) lands in .git/config.
    const shallowTarget = sha && sha.length === 40 ? sha : sha ? undefined : (ref ?? 'HEAD');
    const auth = gitProtocolEnv(
      url,
      this.options.gitAuthHeader ? [['http.extraHeader', this.options.gitAuthHeader]] : [],
    );
    const shallow = shallowTarget
      ? await this.exec(['git', 'fetch', '-q', '--depth', '1', '--no-tags', '--', url, shallowTarget], {
          env: auth,
          cwd: '',
        })
      : undefined;
    if (!shallow || shallow.exitCode !== 0) {
      await this.must(
        ['git', 'fetch', '-q', '--no-tags', '--', url, '+refs/heads/*:refs/remotes/origin/*'],
        `cannot fetch ${url}`,
        { env: auth },
      );
    }
    const target = shallow?.exitCode === 0 ? 'FETCH_HEAD' : (sha ?? `origin/${ref ?? 'HEAD'}`);
    await this.must(
      ['git', 'checkout', '-q', '--detach', target],
      `cannot check out ${sha ?? ref ?? 'HEAD'}`,
    );
    this.baseSha = (
      await this.must(['git', 'rev-parse', 'HEAD'], 'git rev-parse', { record: false })
    ).stdout.trim();
    this.tree = new WorkTree(async (args, { check = false } = {}) => {
      const argv = ['git', ...args];
      const options = { record: false, cwd: '' };
      return check ? this.must(argv, argv.slice(0, 2).join(' '), options) : this.exec(argv, options);
    }, this.baseSha);
    const exclude = await this.options.sandbox.readFile('.git/info/exclude').catch(() => Buffer.alloc(0));
    await this.options.sandbox.writeFile(
      '.git/info/exclude',
      `${exclude.toString()}\n${EXCLUDES.join('\n')}\n`,
    );
  }

  /**
   * Installs dependencies as CI would, for the ecosystems the check uses. A lockfile out of step with its
   * manifest is repaired by a recipe and the install tried again; any other failure is kept for the reason,
   * and the check runs anyway: the tools it needs may be there (a formatter on the worker), and a check
   * that passes is `not_reproducible` whatever the install said.
   */
  private async install(): Promise<void> {
    await this.enter('installing');
    const { toolchains, install } = await toolchainsToInstall(
      this.options.sandbox,
      this.cwd,
      ecosystemsOf(this.plan),
    );
    this.toolchains = toolchains;
    for (let attempt = 1; ; attempt++) {
      const failed = await this.installOnce(install);
      if (!failed) return;
      const shown = failed.toolchain.install!.join(' ');
      const diagnosis = this.diagnoseFailure(failed.result, shown);
      for (const finding of diagnosis.findings) {
        if (finding.category === 'unknown')
          Object.assign(finding, { category: 'dependency', tool: failed.toolchain.install![0] });
      }
      if (attempt === 1) {
        await this.enter('fixing');
        if ((await this.applyRecipes(diagnosis)).length > 0) {
          await this.enter('installing');
          continue;
        }
      }
      const killed = this.killed(failed.result);
      this.installFailure = `${shown}: ${killed ?? diagnosis.summary}`;
      return;
    }
  }

  private async installOnce(
    install: readonly Toolchain[],
  ): Promise<{ toolchain: Toolchain; result: ExecResult } | undefined> {
    for (const toolchain of install) {
      const result = await this.exec(await installArgv(toolchain, (name) => this.onPath(name)));
      if (result.exitCode !== 0) return { toolchain, result };
    }
    return undefined;
  }

  /** Runs the command; a pass is confirmed by a second run, since a failure that does not recur may be flaky. */
  private async reproduce(): Promise<ExecResult | undefined> {
    const first = await this.runCommand();
    if (first.exitCode !== 0) return first;
    if (this.fixedFiles.size > 0) return undefined;
    const second = await this.runCommand();
    if (second.exitCode === 0) return undefined;
    this.flaky = true;
    return second;
  }

  private async applyRecipes(diagnosis: Diagnosis): Promise<string[]> {
    const applied: string[] = [];
    for (const recipe of RECIPES) {
      // What the tool reported is untrusted: a file it names is passed on only if it is not protected.
      const claimed = recipe.claims(diagnosis, this.cwd).filter((file) => this.allowed(file));
      if (claimed.length === 0) continue;
      const executable = await this.findExecutable(recipe);
      if (!executable) continue;
      const before = await this.tree.snapshot();
      const files = claimed.map((file) => path.posix.relative(this.cwd || '.', file) || '.');
      await this.exec(
        recipe.command(executable, files, recipe.tool ? flagsFor(this.checks, recipe.tool) : []),
      );
      const touched = changedSince(before, await this.tree.snapshot());
      const outside = touched.filter((file) => !claimed.includes(file));
      if (outside.length > 0) {
        await this.tree.rollback(touched);
        if (outside.every((file) => this.allowed(file)))
          this.refusals.push(patchGuard.unreported(recipe.name, outside));
        continue;
      }
      if (touched.length > 0) {
        touched.forEach((file) => this.fixedFiles.add(file));
        applied.push(recipe.name);
        this.strategies.push(recipe.name);
      }
    }
    return applied;
  }

  /** Whether a file may be changed by any producer; a refusal is kept for the reason. */
  private allowed(file: string): boolean {
    const violation = patchGuard.protectedPathViolation(file, this.policy);
    if (violation) this.refusals.push(violation);
    return !violation;
  }

  /** The recipe's program, as a path relative to `dir` (where it will run) or a name on PATH. */
  private async findExecutable(recipe: Recipe, dir = this.cwd): Promise<string | undefined> {
    for (const candidate of recipe.executables) {
      if (!candidate.includes('/')) {
        if (await this.onPath(candidate)) return candidate;
        continue;
      }
      for (const base of new Set([dir, this.cwd, ''])) {
        const inRepo = path.posix.join(base || '.', candidate);
        if ((await this.options.sandbox.exec(['test', '-x', inRepo])).exitCode === 0)
          return path.posix.relative(dir || '.', inRepo);
      }
    }
    return undefined;
  }

  private async onPath(name: string): Promise<boolean> {
    const found = await this.options.sandbox.exec(['sh', '-c', 'command -v "$1"', 'sh', name]);
    return found.exitCode === 0;
  }

  private async runAgent(original: Diagnosis, current: Diagnosis, failure: ExecResult): Promise<FixResult> {
    await this.enter('fixing');
    const before = await this.tree.snapshot();
    const result = await runAgent(this.options.agent!, {
      request: this.options.request,
      diagnosis: current,
      failureOutput: `${failure.stdout}\n${failure.stderr}`,
      cwd: this.cwd,
      tools: {
        sandbox: this.options.sandbox,
        run: (argv) => this.exec(argv),
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      },
    });
    this.agentUsage = result.usage;
    const edited = [...new Set([...changedSince(before, await this.tree.snapshot()), ...result.edited])];
    if (result.usage.stoppedBecause !== 'done' || edited.length === 0) {
      await this.tree.rollback(edited);
      return this.finish('unfixable', `the agent found no fix: ${result.summary}`, original);
    }
    edited.forEach((file) => {
      this.fixedFiles.add(file);
      this.agentFiles.add(file);
    });
    this.strategies.push('agent');
    return this.verifyAndFinish(original);
  }

  /** The command must pass, then the broader verify command; and the patch must keep to the guardrails. */
  private async verifyAndFinish(original: Diagnosis | null): Promise<FixResult> {
    return (await this.verifyFix(original))!;
  }

  /**
   * A candidate fix that may well be wrong (what the failing command left in the tree): verified like any
   * other, but when it does not hold, it is rolled back and the run goes on without it.
   */
  private async tryCandidate(
    files: string[],
    strategy: string,
    original: Diagnosis,
  ): Promise<FixResult | undefined> {
    const candidate = files.filter((file) => !this.fixedFiles.has(file));
    candidate.forEach((file) => this.fixedFiles.add(file));
    this.strategies.push(strategy);
    const result = await this.verifyFix(original, candidate);
    if (result) return result;
    candidate.forEach((file) => this.fixedFiles.delete(file));
    this.strategies.pop();
    return undefined;
  }

  /** Verifies the fix; a tentative candidate that fails is rolled back and answered with undefined. */
  private async verifyFix(original: Diagnosis | null, tentative?: string[]): Promise<FixResult | undefined> {
    await this.enter('verifying');
    const fail = async (reason: string) => {
      if (!tentative) return this.finish('unfixable', reason, original);
      await this.tree.rollback(tentative);
      return undefined;
    };
    const patch = await this.tree.patch([...this.fixedFiles]);
    const violations = await this.guard(patch);
    if (violations.length > 0) {
      if (tentative) this.refusals.push(...violations);
      else await this.tree.rollback([...this.fixedFiles]);
      return fail(violations.join('; '));
    }
    const strategy = [...new Set(this.strategies)].join('+');
    const command = await this.runCommitted();
    if (command.exitCode !== 0) {
      const killed = this.killed(command);
      return fail(`${killed ?? 'the command still fails'} after ${strategy}`);
    }
    const verify = this.options.request.verifyCommand;
    if (verify && (await this.runCommitted(verify)).exitCode !== 0)
      return fail(`the command passes after ${strategy}, but the verify command \`${verify}\` fails`);
    return this.finish('fixed', `the command passes after ${this.strategies.join(', ')}`, original, {
      patch,
      strategy,
    });
  }

  /** The patch guard, reading what it needs (package.json before and after, GitLab includes) through git. */
  private guard(patch: string): Promise<string[]> {
    return patchGuard.guardTree(
      patch,
      this.policy,
      this.baseSha!,
      [...this.fixedFiles],
      this.agentFiles,
      async (spec) => {
        const shown = await this.exec(['git', 'show', spec], { record: false, cwd: '' });
        return shown.exitCode === 0 ? shown.stdout : undefined;
      },
    );
  }

  private diagnoseFailure(result: ExecResult, command: string): Diagnosis {
    const killed = this.killed(result);
    if (killed)
      return { summary: killed, findings: [{ category: 'unknown', tool: 'unknown', message: killed }] };
    const goModule = this.toolchains.find((toolchain) => toolchain.goModule)?.goModule;
    const context = { cwd: this.cwd, command, ...(goModule ? { goModule } : {}) };
    const diagnosis = diagnose(`${result.stdout}\n${result.stderr}`, this.options.sandbox.workdir, context);
    const logs = this.options.request.logs;
    if (diagnosis.findings.every((finding) => finding.category === 'unknown') && logs) {
      const fromLogs = diagnose(logs, this.options.sandbox.workdir, context);
      if (fromLogs.findings.some((finding) => finding.category !== 'unknown')) return fromLogs;
    }
    return diagnosis;
  }

  /**
   * When the output names nothing, the tools the command names are asked what they would change, with the
   * check's own options, in its directory (so with the repository's configuration).
   */
  private async withProbes(diagnosis: Diagnosis, failure: ExecResult): Promise<Diagnosis> {
    const unnamed = diagnosis.findings.every((finding) => finding.category === 'unknown');
    if (!unnamed || this.killed(failure)) return diagnosis;
    const asked = await askTools(this.checks, {
      workdir: this.options.sandbox.workdir,
      findExecutable: (recipe, dir) => this.findExecutable(recipe, dir),
      exec: (argv, dir) => this.exec(argv, { cwd: dir }),
    });
    return asked ?? diagnosis;
  }

  private killed(result: ExecResult): string | undefined {
    return killReason(result, { ...this.options.limits, timeoutMs: this.options.commandTimeoutMs });
  }

  private runCommand(): Promise<ExecResult> {
    return this.shell(this.options.request.command);
  }

  /** The command (or another) with the fix committed, as CI will see it. */
  private runCommitted(command = this.options.request.command): Promise<ExecResult> {
    return this.tree.withCommitted([...this.fixedFiles], () => this.shell(command));
  }

  private shell(command: string): Promise<ExecResult> {
    return this.exec(['bash', '-c', command], { shown: command });
  }

  private async must(
    argv: string[],
    what: string,
    { record = true, env = {}, cwd }: { record?: boolean; env?: Record<string, string>; cwd?: string } = {},
  ): Promise<ExecResult> {
    const result = await this.exec(argv, { record, env, cwd: cwd ?? '' });
    if (result.exitCode !== 0) {
      const detail = (result.stderr || result.stdout).trim().split('\n').slice(-5).join('\n');
      throw new PlatformError(
        `${what} failed (exit ${result.exitCode}${result.timedOut ? ', timed out' : ''}): ${detail}`,
      );
    }
    return result;
  }

  /**
   * Runs a command in the sandbox, in the working directory unless told otherwise; recorded steps are the
   * ones a person reading the job wants to see.
   */
  private async exec(
    argv: string[],
    {
      shown = argv.join(' '),
      record = true,
      env = {} as Record<string, string>,
      cwd = this.cwd,
    }: { shown?: string; record?: boolean; env?: Record<string, string>; cwd?: string } = {},
  ): Promise<ExecResult> {
    this.options.signal?.throwIfAborted();
    const startedAt = new Date().toISOString();
    let tail = '';
    const collect = (stream: 'stdout' | 'stderr') => (chunk: string) => {
      tail = (tail + chunk).slice(-LOG_TAIL_CHARS);
      this.options.onOutput?.(chunk, stream);
    };
    const gitEnv = argv[0] === 'git' ? this.git : {};
    const result = await this.options.sandbox.exec(argv, {
      env: { CI: 'true', GIT_TERMINAL_PROMPT: '0', ...this.env, ...gitEnv, ...env },
      timeoutMs: this.options.commandTimeoutMs,
      ...(cwd ? { cwd } : {}),
      ...(this.options.signal ? { signal: this.options.signal } : {}),
      onStdout: collect('stdout'),
      onStderr: collect('stderr'),
    });
    this.options.signal?.throwIfAborted();
    const ended = await sandboxEndedFromOutside(this.options.sandbox, result, shown);
    if (ended) throw ended;
    if (!record) return result;
    this.steps.push({
      stage: this.stage,
      command: shown,
      startedAt,
      exitCode: result.exitCode,
      timedOut: result.timedOut,
      durationMs: result.durationMs,
      logTail: tail,
    });
    await this.report();
    return result;
  }

  private async enter(stage: Stage): Promise<void> {
    this.stage = stage;
    await this.report();
  }

  private async report(): Promise<void> {
    await this.options.onProgress?.({ stage: this.stage, steps: [...this.steps] });
  }

  private finish(
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
      steps: this.steps,
      durationMs: Math.round(performance.now() - this.started),
      ...(this.flaky ? { flaky: true } : {}),
      ...(this.agentUsage ? { agent: this.agentUsage } : {}),
    };
  }
}

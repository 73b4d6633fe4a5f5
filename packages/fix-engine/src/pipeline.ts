import type { Diagnosis, FixRequest, FixResult, JobProgress, Outcome, Stage, Step } from '@ci-fixer/jobs';
import type { ExecResult, Sandbox } from '@ci-fixer/sandbox';
import { diagnose } from './diagnose/index.ts';
import { installCommand } from './install.ts';
import { RECIPES, type Recipe } from './recipes/index.ts';

/** A failure of the platform rather than of the repository: worth retrying. */
export class PlatformError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PlatformError';
  }
}

export interface FixOptions {
  sandbox: Sandbox;
  request: FixRequest;
  /** Limit for each command the engine runs. */
  commandTimeoutMs: number;
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
}

const MAX_ROUNDS = 3;
const LOG_TAIL_CHARS = 4000;
// Dependencies installed in the workspace must never show up in a patch.
const EXCLUDES = ['node_modules/', '.pnpm-store/', '.yarn/cache/', '.eslintcache'];

/**
 * Clone → install → reproduce → diagnose → fix → verify, inside one sandbox. Returns an outcome for
 * anything the repository caused; throws PlatformError for what the platform did.
 */
export async function runFix(options: FixOptions): Promise<FixResult> {
  return new FixRun(options).run();
}

class FixRun {
  private readonly options: FixOptions;
  private readonly steps: Step[] = [];
  private stage: Stage = 'cloning';
  private baseSha: string | null = null;

  constructor(options: FixOptions) {
    this.options = options;
  }

  async run(): Promise<FixResult> {
    await this.clone();
    const install = await this.install();
    if (install) return install;

    await this.enter('reproducing');
    const reproduction = await this.shell(this.options.request.command);
    if (reproduction.exitCode === 0) {
      return this.finish('not_reproducible', 'the command passed in the sandbox', null);
    }

    await this.enter('diagnosing');
    const original = this.diagnoseFailure(reproduction);
    let diagnosis = original;
    const fixedFiles = new Set<string>();
    const strategies: string[] = [];

    for (let round = 1; round <= MAX_ROUNDS; round++) {
      await this.enter('fixing');
      const applied = await this.applyRecipes(diagnosis, fixedFiles);
      if (applied.length === 0) {
        const reason =
          round === 1
            ? `no deterministic recipe fits this failure (${diagnosis.summary})`
            : `still failing after ${strategies.join(', ')}, and no recipe fits what remains (${diagnosis.summary})`;
        return this.finish('unfixable', reason, original);
      }
      strategies.push(...applied);

      await this.enter('verifying');
      const verification = await this.shell(this.options.request.command);
      if (verification.exitCode === 0) {
        const patch = await this.patch([...fixedFiles]);
        return this.finish('fixed', `the command passes after ${strategies.join(', ')}`, original, {
          patch,
          strategy: [...new Set(strategies)].join('+'),
        });
      }
      diagnosis = this.diagnoseFailure(verification);
    }
    return this.finish('unfixable', `still failing after ${MAX_ROUNDS} rounds of recipes`, original);
  }

  private async clone(): Promise<void> {
    await this.enter('cloning');
    const { url, sha, ref } = this.options.request.repo;
    await this.must(['git', 'init', '-q', '.'], 'git init');
    // Fetched by URL, never stored as a remote, so no URL (and later no credential) lands in .git/config.
    const shallowTarget = sha && sha.length === 40 ? sha : sha ? undefined : (ref ?? 'HEAD');
    const auth: Record<string, string> = this.options.gitAuthHeader
      ? {
          GIT_CONFIG_COUNT: '1',
          GIT_CONFIG_KEY_0: 'http.extraHeader',
          GIT_CONFIG_VALUE_0: this.options.gitAuthHeader,
        }
      : {};
    const shallow = shallowTarget
      ? await this.exec(['git', 'fetch', '-q', '--depth', '1', '--no-tags', '--', url, shallowTarget], {
          env: auth,
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
    const exclude = await this.options.sandbox.readFile('.git/info/exclude').catch(() => Buffer.alloc(0));
    await this.options.sandbox.writeFile(
      '.git/info/exclude',
      `${exclude.toString()}\n${EXCLUDES.join('\n')}\n`,
    );
  }

  /** Installs dependencies; a failure here is the repository's, so it ends the run with an outcome. */
  private async install(): Promise<FixResult | undefined> {
    await this.enter('installing');
    const listing = await this.must(['ls', '-A'], 'list the repository', { record: false });
    const command = installCommand(listing.stdout.split('\n'));
    if (!command) return undefined;
    const result = await this.exec(command);
    if (result.exitCode === 0) return undefined;
    const diagnosis = this.diagnoseFailure(result);
    for (const finding of diagnosis.findings) {
      if (finding.category === 'unknown')
        Object.assign(finding, { category: 'dependency', tool: command[0] });
    }
    return this.finish('unfixable', `installing dependencies failed: ${command.join(' ')}`, diagnosis);
  }

  private async applyRecipes(diagnosis: Diagnosis, fixedFiles: Set<string>): Promise<string[]> {
    const applied: string[] = [];
    for (const recipe of RECIPES) {
      const claimed = recipe.claims(diagnosis);
      if (claimed.length === 0 || !(await this.hasExecutable(recipe))) continue;
      const before = await this.changedFiles();
      await this.exec(recipe.command(claimed));
      const touched = [...(await this.changedFiles())].filter((file) => !before.has(file));
      const outside = touched.filter((file) => !claimed.includes(file));
      if (outside.length > 0) {
        await this.rollback(touched);
        continue;
      }
      if (touched.length > 0) {
        touched.forEach((file) => fixedFiles.add(file));
        applied.push(recipe.name);
      }
    }
    return applied;
  }

  private async hasExecutable(recipe: Recipe): Promise<boolean> {
    return (await this.options.sandbox.exec(['test', '-x', recipe.requires])).exitCode === 0;
  }

  /** Tracked files that differ from HEAD plus untracked files that are not ignored. */
  private async changedFiles(): Promise<Set<string>> {
    const status = await this.must(
      ['git', 'status', '--porcelain=v1', '-z', '--untracked-files=all'],
      'git status',
      { record: false },
    );
    return new Set(
      status.stdout
        .split('\0')
        .filter(Boolean)
        .map((entry) => entry.slice(3)),
    );
  }

  private async rollback(files: string[]): Promise<void> {
    await this.exec(['git', 'checkout', '-q', 'HEAD', '--', ...files], { record: false });
    await this.exec(['git', 'clean', '-fq', '--', ...files], { record: false });
  }

  private async patch(files: string[]): Promise<string> {
    await this.must(['git', 'add', '-A', '--', ...files], 'git add', { record: false });
    const diff = await this.must(
      ['git', 'diff', '--cached', '--binary', this.baseSha!, '--', ...files],
      'git diff',
      { record: false },
    );
    return diff.stdout;
  }

  private diagnoseFailure(result: ExecResult): Diagnosis {
    const diagnosis = diagnose(`${result.stdout}\n${result.stderr}`, this.options.sandbox.workdir);
    const logs = this.options.request.logs;
    if (diagnosis.findings.every((finding) => finding.category === 'unknown') && logs) {
      const fromLogs = diagnose(logs, this.options.sandbox.workdir);
      if (fromLogs.findings.some((finding) => finding.category !== 'unknown')) return fromLogs;
    }
    return diagnosis;
  }

  private shell(command: string): Promise<ExecResult> {
    return this.exec(['bash', '-c', command], { shown: command });
  }

  private async must(
    argv: string[],
    what: string,
    { record = true, env = {} }: { record?: boolean; env?: Record<string, string> } = {},
  ): Promise<ExecResult> {
    const result = await this.exec(argv, { record, env });
    if (result.exitCode !== 0) {
      const detail = (result.stderr || result.stdout).trim().split('\n').slice(-5).join('\n');
      throw new PlatformError(
        `${what} failed (exit ${result.exitCode}${result.timedOut ? ', timed out' : ''}): ${detail}`,
      );
    }
    return result;
  }

  /** Runs a command in the sandbox; recorded steps are the ones a person reading the job wants to see. */
  private async exec(
    argv: string[],
    { shown = argv.join(' '), record = true, env = {} as Record<string, string> } = {},
  ): Promise<ExecResult> {
    this.options.signal?.throwIfAborted();
    const startedAt = new Date().toISOString();
    let tail = '';
    const collect = (stream: 'stdout' | 'stderr') => (chunk: string) => {
      tail = (tail + chunk).slice(-LOG_TAIL_CHARS);
      this.options.onOutput?.(chunk, stream);
    };
    const result = await this.options.sandbox.exec(argv, {
      env: { CI: 'true', GIT_TERMINAL_PROMPT: '0', ...env },
      timeoutMs: this.options.commandTimeoutMs,
      ...(this.options.signal ? { signal: this.options.signal } : {}),
      onStdout: collect('stdout'),
      onStderr: collect('stderr'),
    });
    this.options.signal?.throwIfAborted();
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
    return {
      outcome,
      reason,
      diagnosis,
      patch: fix?.patch ?? null,
      strategy: fix?.strategy ?? null,
      baseSha: this.baseSha,
      steps: this.steps,
    };
  }
}

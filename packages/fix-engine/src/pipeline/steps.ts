import type { JobProgress, Stage, Step } from '@ci-fixer/contract';
import type { ExecResult, Sandbox } from '@ci-fixer/sandbox';
import { cacheEnvironment } from '../cache-env.ts';
import { gitProtocolEnv } from '../git-env.ts';
import { sandboxEndedFromOutside } from '../kill-reason.ts';
import { PlatformError } from '@ci-fixer/contract';

const LOG_TAIL_CHARS = 4000;

export interface StepOptions {
  sandbox: Sandbox;
  /** The working directory, relative to the repository root ('' for the root). */
  cwd: string;
  repoUrl: string;
  commandTimeoutMs: number;
  signal?: AbortSignal;
  onProgress?: (progress: JobProgress) => void | Promise<void>;
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
}

export interface ExecSettings {
  /** How the step is shown to a person; argv joined by default. */
  shown?: string;
  /** Whether it becomes a step of the job (the ones a person reading the job wants to see). */
  record?: boolean;
  env?: Record<string, string>;
  /** Relative to the repository root; the working directory by default. */
  cwd?: string;
}

/** Every command the pipeline runs goes through here: environment, limits, abort, step records, progress. */
export class StepRunner {
  readonly steps: Step[] = [];
  private stage: Stage = 'cloning';
  private readonly options: StepOptions;
  private readonly env: Record<string, string>;
  /** For every git command: the transports it may use (GIT_ALLOW_PROTOCOL). */
  private readonly git: Record<string, string>;

  constructor(options: StepOptions) {
    this.options = options;
    this.env = cacheEnvironment(options.sandbox.cacheDir);
    this.git = gitProtocolEnv(options.repoUrl);
  }

  async exec(argv: string[], settings: ExecSettings = {}): Promise<ExecResult> {
    const { shown = argv.join(' '), record = true, env = {}, cwd = this.options.cwd } = settings;
    const { sandbox, signal } = this.options;
    signal?.throwIfAborted();
    const startedAt = new Date().toISOString();
    let tail = '';
    const collect = (stream: 'stdout' | 'stderr') => (chunk: string) => {
      tail = (tail + chunk).slice(-LOG_TAIL_CHARS);
      this.options.onOutput?.(chunk, stream);
    };
    const gitEnv = argv[0] === 'git' ? this.git : {};
    const result = await sandbox.exec(argv, {
      env: { CI: 'true', GIT_TERMINAL_PROMPT: '0', ...this.env, ...gitEnv, ...env },
      timeoutMs: this.options.commandTimeoutMs,
      ...(cwd ? { cwd } : {}),
      ...(signal ? { signal } : {}),
      onStdout: collect('stdout'),
      onStderr: collect('stderr'),
    });
    signal?.throwIfAborted();
    const ended = await sandboxEndedFromOutside(sandbox, result, shown);
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

  /** A command the platform needs to succeed (git plumbing): a failure is a PlatformError. */
  async must(
    argv: string[],
    what: string,
    { record = true, env = {}, cwd }: { record?: boolean; env?: Record<string, string>; cwd?: string } = {},
  ): Promise<ExecResult> {
    const result = await this.exec(argv, { record, env, cwd: cwd ?? '' });
    if (result.exitCode !== 0) throw stepFailure(what, result);
    return result;
  }

  shell(command: string): Promise<ExecResult> {
    return this.exec(['bash', '-c', command], { shown: command });
  }

  async onPath(name: string): Promise<boolean> {
    const found = await this.options.sandbox.exec(['sh', '-c', 'command -v "$1"', 'sh', name]);
    return found.exitCode === 0;
  }

  async enter(stage: Stage): Promise<void> {
    this.stage = stage;
    await this.report();
  }

  private async report(): Promise<void> {
    await this.options.onProgress?.({ stage: this.stage, steps: [...this.steps] });
  }
}

/** A platform step (git, the sandbox's own tools) that failed: retried, with the end of its output. */
export function stepFailure(what: string, result: ExecResult): PlatformError {
  const detail = (result.stderr || result.stdout).trim().split('\n').slice(-5).join('\n');
  return new PlatformError(
    `${what} failed (exit ${result.exitCode}${result.timedOut ? ', timed out' : ''}): ${detail}`,
  );
}

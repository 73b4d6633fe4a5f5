import type { OutputBuffer } from './output-buffer.ts';
import type { ExecResult } from './types.ts';

/** A stream listener that feeds one output buffer and passes the decoded text on, if anyone listens. */
export function collectInto(
  buffer: OutputBuffer,
  listener?: (text: string) => void,
): (chunk: Buffer) => void {
  return (chunk) => {
    const text = buffer.push(chunk);
    if (text) listener?.(text);
  };
}

/**
 * Ends one command when its timeout passes or its caller aborts, by calling `stop` once, and remembers
 * which of the two happened. Every driver stops commands its own way; the rules for when are the same.
 */
export class ExecDeadline {
  timedOut = false;
  aborted = false;
  private readonly stop: () => void;
  private readonly signal: AbortSignal | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort = () => this.abort();

  constructor(timeoutMs: number, signal: AbortSignal | undefined, stop: () => void) {
    this.stop = stop;
    this.signal = signal;
    this.timer = setTimeout(() => {
      if (this.timedOut || this.aborted) return;
      this.timedOut = true;
      this.stop();
    }, timeoutMs);
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (signal?.aborted) this.abort();
  }

  /** Stops the command now, as an abort; destroying a sandbox does this to what still runs in it. */
  abort(): void {
    if (this.timedOut || this.aborted) return;
    this.aborted = true;
    this.stop();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
  }

  result(exitCode: number, stdout: OutputBuffer, stderr: OutputBuffer, startedAt: number): ExecResult {
    return {
      exitCode,
      stdout: stdout.text(),
      stderr: stderr.text(),
      stdoutTruncated: stdout.truncated,
      stderrTruncated: stderr.truncated,
      timedOut: this.timedOut,
      aborted: this.aborted,
      durationMs: Math.round(performance.now() - startedAt),
    };
  }
}

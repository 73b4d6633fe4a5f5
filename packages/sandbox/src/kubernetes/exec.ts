import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { Readable, Writable } from 'node:stream';
import type { Exec, V1Status } from '@kubernetes/client-node';
import { collectInto, ExecDeadline } from '../exec-control.ts';
import { OutputBuffer } from '../output-buffer.ts';
import { SandboxError, type ExecOptions, type ExecResult } from '../types.ts';
import { CONTAINER_NAME } from './job-spec.ts';

/** Where one sandbox's commands run: its pod, and its directory inside the pod's workspace volume. */
export interface ExecTarget {
  exec: Exec;
  namespace: string;
  pod: string;
  sandboxId: string;
  /** `<workspaceDir>/<sandbox id>`: holds workspace/, home/, tmp/ and exec/ (pid files). */
  baseDir: string;
}

export interface RawExecIo {
  /** Bytes the command can read from stdin. Never closed: kwok never delivers EOF, so commands read a known count. */
  stdin?: Buffer;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

export interface RawExec {
  /** Resolves with the status the API server sent on the status channel, or rejects if the stream ended without one. */
  status: Promise<V1Status>;
  /** Closes the WebSocket from this side. The command itself keeps running: kill it with a second exec. */
  close(): void;
}

/** WebSocket frames stay well below the API server's limit however large a file is. */
const STDIN_CHUNK_BYTES = 64 * 1024;

/** One exec over the WebSocket API, streaming stdout and stderr as they arrive. */
export async function rawExec(target: ExecTarget, argv: readonly string[], io: RawExecIo): Promise<RawExec> {
  const sink = (handler: ((chunk: Buffer) => void) | undefined) =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        handler?.(chunk);
        done();
      },
    });
  let stdin: Readable | null = null;
  if (io.stdin) {
    stdin = new Readable({ read() {} });
    for (let offset = 0; offset < io.stdin.length; offset += STDIN_CHUNK_BYTES)
      stdin.push(io.stdin.subarray(offset, offset + STDIN_CHUNK_BYTES));
  }
  let settle!: { resolve: (status: V1Status) => void; reject: (error: Error) => void };
  const status = new Promise<V1Status>((resolve, reject) => (settle = { resolve, reject }));
  let received: V1Status | undefined;
  const socket = await target.exec
    .exec(
      target.namespace,
      target.pod,
      CONTAINER_NAME,
      [...argv],
      sink(io.onStdout),
      sink(io.onStderr),
      stdin,
      false,
      (value) => {
        received = value;
        settle.resolve(value);
      },
    )
    .catch((error: unknown) => {
      throw new SandboxError(`exec into pod ${target.pod} failed: ${describeUpgradeError(error)}`, {
        sandboxId: target.sandboxId,
        cause: error,
      });
    });
  socket.on('close', () => {
    stdin?.destroy();
    if (!received)
      settle.reject(
        new SandboxError(`exec stream to pod ${target.pod} ended without an exit status`, {
          sandboxId: target.sandboxId,
        }),
      );
  });
  socket.on('error', (error: Error) => settle.reject(error));
  return { status, close: () => socket.close() };
}

/**
 * The WebSocket upgrade fails with a bare HTTP status. A 403 with only `get` on pods/exec carries no reason
 * text, so name the permission here.
 */
function describeUpgradeError(error: unknown): string {
  // The WebSocket library rejects with an ErrorEvent, not an Error; both carry `message`.
  const message = (error as { message?: unknown } | undefined)?.message;
  if (typeof message !== 'string') return String(error);
  if (/\b403\b/.test(message))
    return `${message} — the worker needs both "get" and "create" on pods/exec in this namespace (see chart/files/worker-role-rules.yaml)`;
  if (/\b404\b/.test(message)) return `${message} — the sandbox pod is gone`;
  return message;
}

/**
 * A command's exit code from the exec status. Real kubelets report `NonZeroExitCode` with an `ExitCode`
 * cause; kwok (the dev cluster's fake node) wraps the same information in an `InternalError` message.
 * Anything else is an infrastructure failure, not a command result.
 */
export function exitCodeOf(status: V1Status): number | undefined {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((candidate) => candidate.reason === 'ExitCode');
  if (cause?.message && /^\d+$/.test(cause.message)) return Number(cause.message);
  if (status.reason === 'InternalError' && status.message) {
    const exited = /: exit status (\d+)/.exec(status.message);
    if (exited) return Number(exited[1]);
    const signalled = /: signal: ([a-z0-9 ]+)/.exec(status.message);
    if (signalled) return 128 + signalNumber(signalled[1]!.trim());
  }
  return undefined;
}

// Go's names for signals (syscall.Signal.String) as they appear in "signal: killed".
const GO_SIGNAL_NAMES: Record<string, NodeJS.Signals> = {
  hangup: 'SIGHUP',
  interrupt: 'SIGINT',
  quit: 'SIGQUIT',
  aborted: 'SIGABRT',
  killed: 'SIGKILL',
  'segmentation fault': 'SIGSEGV',
  'broken pipe': 'SIGPIPE',
  terminated: 'SIGTERM',
  'bus error': 'SIGBUS',
  'floating point exception': 'SIGFPE',
  'user defined signal 1': 'SIGUSR1',
  'user defined signal 2': 'SIGUSR2',
};

function signalNumber(name: string): number {
  const signal = GO_SIGNAL_NAMES[name];
  return signal ? osConstants.signals[signal] : osConstants.signals.SIGKILL;
}

/**
 * Runs each command in a session of its own and records the session id, so that a second exec can kill the
 * command and everything it started: an exec'd process keeps running when its client disconnects. `timeout`
 * is the backstop for a worker that dies mid-command. The environment arrives on stdin as exactly N bytes of
 * `export` lines (not in argv, which the API server may log), and the command's own stdin is /dev/null.
 *
 * $1 sandbox dir, $2 exec id, $3 backstop seconds, $4 cwd, $5 env bytes, then argv.
 */
const RUN_SCRIPT = `
base=$1 id=$2 limit=$3 cwd=$4 envbytes=$5
shift 5
mkdir -p "$base/workspace" "$base/home" "$base/tmp" "$base/exec" || exit 125
if [ "$envbytes" -gt 0 ]; then
  env_script=$(head -c "$envbytes") && eval "$env_script" || exit 125
fi
cd "$cwd" || exit 125
setsid timeout -s KILL "$limit" "$@" </dev/null &
pid=$!
echo "$pid" > "$base/exec/$id"
wait "$pid"
code=$?
rm -f "$base/exec/$id"
exit $code
`;

/** Kills the session recorded by RUN_SCRIPT, waiting briefly for its pid file if the command is just starting. */
const KILL_SCRIPT = `
file=$1/exec/$2
i=0
while [ ! -s "$file" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$file" ] || exit 0
kill -s KILL -- "-$(cat "$file")" 2>/dev/null
exit 0
`;

/** How long a killed command's stream may take to end before it is closed from this side. */
const KILL_GRACE_MS = 5000;
/** The in-pod backstop fires this long after the client-side timeout, which should always win. */
const BACKSTOP_GRACE_SECONDS = 30;

export interface RunDefaults {
  timeoutMs: number;
  maxOutputBytes: number;
}

/** Runs argv in the sandbox's pod, streaming and capping its output, and kills it in the pod on timeout or abort. */
export async function runCommand(
  target: ExecTarget,
  argv: readonly string[],
  cwd: string,
  env: Record<string, string>,
  options: ExecOptions,
  defaults: RunDefaults,
): Promise<ExecResult> {
  const started = performance.now();
  const execId = randomBytes(8).toString('hex');
  const maxOutputBytes = options.maxOutputBytes ?? defaults.maxOutputBytes;
  const timeoutMs = options.timeoutMs ?? defaults.timeoutMs;
  const stdout = new OutputBuffer(maxOutputBytes);
  const stderr = new OutputBuffer(maxOutputBytes);
  const envScript = Buffer.from(exportLines(env));
  const backstopSeconds = Math.ceil(timeoutMs / 1000) + BACKSTOP_GRACE_SECONDS;

  let killed: Promise<void> | undefined;
  const kill = () =>
    (killed ??= killSession(target, execId).catch(() => {
      // The pod may be gone already, which kills the command too.
    }));

  const running = await rawExec(
    target,
    ['sh', '-c', RUN_SCRIPT, 'ci-fixer-exec', target.baseDir, execId, String(backstopSeconds), cwd]
      .concat(String(envScript.length))
      .concat(argv),
    {
      stdin: envScript,
      onStdout: collectInto(stdout, options.onStdout),
      onStderr: collectInto(stderr, options.onStderr),
    },
  );

  let graceTimer: NodeJS.Timeout | undefined;
  let deadline!: ExecDeadline;
  const stopped = new Promise<'stopped'>((resolve) => {
    deadline = new ExecDeadline(timeoutMs, options.signal, () => {
      void kill();
      graceTimer ??= setTimeout(() => resolve('stopped'), KILL_GRACE_MS);
    });
    void running.status.catch(() => {}).finally(() => deadline.dispose());
  });

  let exitCode: number;
  try {
    const outcome = await Promise.race([running.status, stopped]);
    if (outcome === 'stopped') {
      running.close();
      exitCode = 128 + osConstants.signals.SIGKILL;
    } else {
      const code = exitCodeOf(outcome);
      if (code === undefined)
        throw new SandboxError(
          `exec in pod ${target.pod} failed: ${outcome.reason ?? 'unknown reason'}: ${outcome.message ?? JSON.stringify(outcome)}`,
          { sandboxId: target.sandboxId },
        );
      exitCode = code;
    }
  } catch (error) {
    // A stream that breaks after a kill is the kill's doing, not an infrastructure failure.
    if (!deadline.timedOut && !deadline.aborted) throw error;
    exitCode = 128 + osConstants.signals.SIGKILL;
  } finally {
    clearTimeout(graceTimer);
    running.close();
  }
  if (killed) await killed;
  return deadline.result(exitCode, stdout, stderr, started);
}

async function killSession(target: ExecTarget, execId: string): Promise<void> {
  const killer = await rawExec(
    target,
    ['sh', '-c', KILL_SCRIPT, 'ci-fixer-kill', target.baseDir, execId],
    {},
  );
  try {
    await killer.status;
  } finally {
    killer.close();
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `export NAME='value'` lines; single quotes keep every byte of the value literal. */
export function exportLines(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([name, value]) => {
      if (!ENV_NAME.test(name)) throw new SandboxError(`not a valid environment variable name: ${name}`);
      return `export ${name}='${value.replaceAll("'", "'\\''")}'\n`;
    })
    .join('');
}

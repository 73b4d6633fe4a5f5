import { randomBytes } from 'node:crypto';
import { Writable, type Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { collectInto, ExecDeadline } from '../exec-control.ts';
import { OutputBuffer } from '../output-buffer.ts';
import type { ExecOptions, ExecResult } from '../types.ts';

/**
 * How a command is stopped, and everything it started with it.
 *
 * An exec's process lives in the container, and the engine gives no way to signal it: closing the attached
 * stream leaves it running, and exec inspect's `Pid` is a host pid. So every command carries a marker in its
 * environment, `CI_FIXER_EXEC=<random id>`, which its children inherit; a second exec (the reaper below)
 * walks /proc inside the container and SIGKILLs every process that carries the marker, and every process in
 * the session of one that does. runc starts each exec as a session leader, and a background job of a
 * non-interactive shell stays in its session, so the session catches children that scrubbed their
 * environment; the marker catches those that called setsid. A process that did both escapes until the
 * sandbox is destroyed, which kills the whole container. The sweep repeats until it finds nothing, so a
 * process that forks while being swept is caught in the next round.
 */
const MARKER = 'CI_FIXER_EXEC';

const REAPER_SCRIPT = `
marker="${MARKER}=$1"
round=0
while [ $round -lt 10 ]; do
  round=$((round + 1))
  sids=" "
  for dir in /proc/[0-9]*; do
    # Not -F: busybox's fixed-string search stops at the first NUL of environ. The marker has no
    # regex metacharacters.
    grep -qs "$marker" "$dir/environ" || continue
    read -r stat 2>/dev/null < "$dir/stat" || continue
    set -- \${stat##*) }
    # Never session 0 or 1: that would be the container's init, and with it the whole sandbox.
    case "$4" in 0 | 1) ;; *) sids="$sids$4 " ;; esac
  done
  [ "$sids" = " " ] && exit 0
  for dir in /proc/[0-9]*; do
    pid=\${dir#/proc/}
    [ "$pid" = $$ ] && continue
    read -r stat 2>/dev/null < "$dir/stat" || continue
    set -- \${stat##*) }
    case "$sids" in *" $4 "*) kill -KILL "$pid" 2>/dev/null ;; esac
  done
  sleep 0.05
done
exit 1
`;

/** Changes to the working directory inside the container, so a missing one reads as such, then runs argv. */
const START_SCRIPT = 'cd "$1" || exit 1; shift; exec "$@"';

/** How long a killed command may take to end before its stream is closed from this side. */
const KILL_GRACE_MS = 5000;

export interface ExecTarget {
  container: Docker.Container;
  cwd: string;
  defaults: { timeoutMs: number; maxOutputBytes: number };
}

/** Runs argv in the container through an attached exec, streaming and capping its output. */
export async function runExec(
  target: ExecTarget,
  argv: readonly string[],
  options: ExecOptions,
  onRunning: (stop: () => void) => () => void,
): Promise<ExecResult> {
  const started = performance.now();
  const execId = randomBytes(8).toString('hex');
  const maxOutputBytes = options.maxOutputBytes ?? target.defaults.maxOutputBytes;
  const stdout = new OutputBuffer(maxOutputBytes);
  const stderr = new OutputBuffer(maxOutputBytes);
  const env = Object.entries({ ...options.env, [MARKER]: execId }).map(([key, value]) => `${key}=${value}`);

  // Attached, not detached: podman never updates a detached exec's inspect (see docs/podman.md).
  const exec = await target.container.exec({
    Cmd: ['sh', '-c', START_SCRIPT, 'ci-fixer-exec', target.cwd, ...argv],
    Env: env,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });
  const stream = (await exec.start({ Detach: false, Tty: false })) as Readable;
  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    // podman appends a connection reset after a runtime error (a missing command); the code still comes
    // from exec inspect.
    stream.once('error', () => resolve());
  });
  target.container.modem.demuxStream(stream, sink(stdout, options.onStdout), sink(stderr, options.onStderr));

  let killing: Promise<void> | undefined;
  const kill = () => {
    if (killing) return;
    killing = reap(target.container, execId);
    // Whatever the sweep manages, the caller gets an answer: a stream still open by then is closed here.
    setTimeout(() => stream.destroy(), KILL_GRACE_MS).unref();
  };
  const deadline = new ExecDeadline(options.timeoutMs ?? target.defaults.timeoutMs, options.signal, kill);
  const forget = onRunning(() => deadline.abort());

  try {
    await ended;
  } finally {
    deadline.dispose();
    forget();
  }
  // The sweep normally ends with the command; waiting for it means nothing of the command runs on after
  // this returns. Bounded, for an engine that stopped answering.
  if (killing) await Promise.race([killing, delay(KILL_GRACE_MS, undefined, { ref: false })]);
  const exitCode = await exitCodeOf(exec, deadline.timedOut || deadline.aborted);
  return deadline.result(exitCode, stdout, stderr, started);
}

function sink(buffer: OutputBuffer, listener: ((chunk: string) => void) | undefined): Writable {
  const collect = collectInto(buffer, listener);
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      collect(chunk);
      callback();
    },
  });
}

/** Kills the processes of one exec (see REAPER_SCRIPT); a container that is already gone has none left. */
async function reap(container: Docker.Container, execId: string): Promise<void> {
  try {
    const exec = await container.exec({
      Cmd: ['sh', '-c', REAPER_SCRIPT, 'ci-fixer-kill', execId],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = (await exec.start({ Detach: false, Tty: false })) as Readable;
    stream.resume();
    await new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
  } catch {
    // The container is gone or going: nothing of the command survives it.
  }
}

/**
 * The exit code from exec inspect. Docker may still report the exec as running for a moment after its
 * stream ended, so ask again briefly. A command whose container vanished under it (destroyed, expired)
 * reports 137, as if it had been killed, which it was.
 */
async function exitCodeOf(exec: Docker.Exec, killed: boolean): Promise<number> {
  for (let attempt = 0; attempt < 40; attempt++) {
    let info: Docker.ExecInspectInfo;
    try {
      info = await exec.inspect();
    } catch {
      return 137;
    }
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    await delay(50);
  }
  // Still running: only possible when the stream was closed from this side after a kill that failed.
  return killed ? 137 : 1;
}

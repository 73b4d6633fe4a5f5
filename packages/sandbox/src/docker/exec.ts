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
 * stream leaves it running, and exec inspect's `Pid` is a host pid. So the exec's own process is a small
 * shell (START_SCRIPT) that stays in the container as the command's parent. It starts the command with
 * `setsid`, in a session and process group of its own, waits for it, and then kills what it left behind:
 * first the whole group with one kill(2), which the kernel delivers to every member at once, so a fork
 * bomb cannot outrun it and it needs no free pid; then, walking /proc with shell builtins only, what is
 * still in the command's session, and every orphan (a process the init adopted, outside the main
 * process's session) with its session: that catches children that called setsid themselves, or
 * double-forked. While another exec runs in the sandbox (a process whose parent is outside the container,
 * as every exec's is), only orphans that carry this command's marker (below) are its own.
 *
 * Every command carries a marker in its environment, `CI_FIXER_EXEC=<random id>`, which its children
 * inherit. On a timeout or abort a second exec (REAPER_SCRIPT) kills every process group and session that
 * holds a process with the marker, and, when no other exec runs, every orphan. So a process that both
 * scrubbed its environment and started a session of its own escapes only while commands run
 * concurrently, until the next command ends alone or the sandbox is destroyed.
 *
 * At the pids limit no exec can start, so neither can the reaper. Then the driver signals the container's
 * main process (SUPERVISOR_SCRIPT in driver.ts), which is already running: it kills every process of the
 * sandbox but itself and the engine's init, with one kill(-1), and restarts the egress relay.
 */
const MARKER = 'CI_FIXER_EXEC';

/** Makes the container's main process kill every command of the sandbox (SUPERVISOR_SCRIPT, driver.ts). */
export const RESCUE_SIGNAL = 'SIGUSR1';

const REAPER_SCRIPT = `
marker="${MARKER}=$1"
# Another exec than the command's own and this one (parent 0: outside the container, like every exec's)?
alone=1
for dir in /proc/[0-9]*; do
  case "\${dir#/proc/}" in 1 | $$) continue ;; esac
  read -r stat 2>/dev/null < "$dir/stat" || continue
  set -- \${stat##*) }
  [ "$2" = 0 ] && ! grep -qs "$marker" "$dir/environ" && alone=
done
round=0
while [ $round -lt 10 ]; do
  round=$((round + 1))
  sids=" "
  for dir in /proc/[0-9]*; do
    [ "\${dir#/proc/}" = $$ ] && continue
    read -r stat 2>/dev/null < "$dir/stat" || continue
    set -- \${stat##*) }
    # Never session 0 or 1: the container's init and main process, the whole sandbox.
    case "$4" in 0 | 1) continue ;; esac
    # An orphan, when no other exec could own it, or a process with the marker. Not -F: busybox's
    # fixed-string search stops at the first NUL of environ; the marker has no regex metacharacters.
    if [ -n "$alone" ] && [ "$2" = 1 ] && [ "$1" != Z ]; then :
    elif grep -qs "$marker" "$dir/environ"; then :
    else continue
    fi
    # Its whole process group at once, so that a fork bomb in it cannot refill what is killed.
    kill -KILL -"$3" 2>/dev/null
    sids="$sids$4 "
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

/**
 * The exec's process: changes to the working directory (so a missing one reads as such), runs argv in a
 * session of its own and, once it ends, kills what it left (see above). Builtins only after the command
 * started (read, kill, case), because at the pids limit nothing can fork: grep runs only while another
 * exec runs, for an orphan, once the command's group is gone. Exits with the command's status.
 */
const START_SCRIPT = `
cd "$1" || exit 1
shift
marker="${MARKER}=$${MARKER}"
# A background job of a shell without job control stays in its group, so setsid makes a new session
# in place, without forking, and $! is the command itself. An image without setsid: the command stays in
# this shell's session, which the reaper and destroy still reach.
if command -v setsid > /dev/null 2>&1; then setsid "$@" & else "$@" & fi
cmd=$!
# Quiet: busybox sh reports a job killed by a signal ("Killed") on its stderr, which is the command's.
wait "$cmd" 2> /dev/null
code=$?
kill -KILL -"$cmd" 2> /dev/null
# Another exec running (parent 0: outside the container, like this shell's)? Then orphans may be its.
alone=1
for dir in /proc/[0-9]*; do
  case "\${dir#/proc/}" in 1 | $$) continue ;; esac
  read -r stat 2> /dev/null < "$dir/stat" || continue
  set -- \${stat##*) }
  [ "$2" = 0 ] && alone=
done
round=0
while [ $round -lt 50 ]; do
  round=$((round + 1))
  found=
  sids=" "
  for dir in /proc/[0-9]*; do
    [ "\${dir#/proc/}" = $$ ] && continue
    read -r stat 2> /dev/null < "$dir/stat" || continue
    set -- \${stat##*) }
    # $1 state, $2 parent, $4 session. Zombies are dead already; init reaps them.
    [ "$1" = Z ] && continue
    if [ "$4" = "$cmd" ]; then
      kill -KILL "\${dir#/proc/}" 2> /dev/null && found=1
    elif [ "$2" = 1 ] && [ "$4" != 0 ] && [ "$4" != 1 ]; then
      if [ -n "$alone" ] || grep -qs "$marker" "$dir/environ"; then sids="$sids$4 "; fi
    fi
  done
  if [ "$sids" != " " ]; then
    for dir in /proc/[0-9]*; do
      [ "\${dir#/proc/}" = $$ ] && continue
      read -r stat 2> /dev/null < "$dir/stat" || continue
      set -- \${stat##*) }
      case "$sids" in *" $4 "*) kill -KILL "\${dir#/proc/}" 2> /dev/null && found=1 ;; esac
    done
  fi
  [ -z "$found" ] && break
done
exit "$code"
`;

/**
 * What a failed command may have met: the kernel's OOM kill count for the container's memory cgroup (v2
 * memory.events, or v1 memory.oom_control; read-only in the container), and the size and free space in
 * KiB of each writable filesystem given as an argument (the workspace, /tmp, $HOME).
 */
const LIMITS_SCRIPT = `
for file in /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control; do
  [ -r "$file" ] || continue
  while read -r key value; do [ "$key" = oom_kill ] && echo "oom_kill $value"; done < "$file"
  break
done
df -P -k "$@" | tail -n +2
`;

/** How long a killed command may take to end before its stream is closed from this side. */
const KILL_GRACE_MS = 5000;

/** Free space under which a workspace counts as full: tmpfs fills to the page, this leaves slack. */
const FULL_BELOW_KIB = 1024;

export interface ExecTarget {
  container: Docker.Container;
  cwd: string;
  defaults: { timeoutMs: number; maxOutputBytes: number };
  /** Tells why a failed command failed, when a sandbox limit did it. */
  limits?: LimitProbe;
  /** Ends every command of the sandbox from outside, when the reaper cannot start (the pids limit). */
  rescue?: () => Promise<void>;
}

/**
 * Finds out, after a command failed, whether a sandbox limit ended it: an OOM kill in the container since
 * the last look (the count is the container's, so a command that failed while another one in the same
 * sandbox was OOM-killed is reported too), or a full workspace, /tmp or $HOME.
 */
export class LimitProbe {
  private oomKills = 0;
  private readonly container: Docker.Container;
  private readonly filesystems: readonly string[];

  constructor(container: Docker.Container, filesystems: readonly string[]) {
    this.container = container;
    this.filesystems = filesystems;
  }

  async check(): Promise<ExecResult['limit']> {
    const result = await runScript(this.container, LIMITS_SCRIPT, this.filesystems);
    if (!result) return undefined;
    const oomKills = Number(/^oom_kill (\d+)$/m.exec(result.stdout)?.[1] ?? this.oomKills);
    const oomKilled = oomKills > this.oomKills;
    this.oomKills = Math.max(this.oomKills, oomKills);
    if (oomKilled) return 'memory';
    // df -P: filesystem, size, used, available, capacity, mount point.
    const full = result.stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .some(([, size, , available]) => {
        const [total, free] = [Number(size), Number(available)];
        return total > 0 && free < Math.min(FULL_BELOW_KIB, total / 100);
      });
    return full ? 'disk' : undefined;
  }
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
    killing = reap(target.container, execId).then(async (cleared) => {
      if (!cleared) await target.rescue?.();
    });
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
  const stopped = deadline.timedOut || deadline.aborted;
  const exitCode = await exitCodeOf(exec, stopped);
  const result = deadline.result(exitCode, stdout, stderr, started);
  // Only a failure can have a limit behind it; the look costs one exec, so successes skip it.
  const limit = exitCode !== 0 && !stopped ? await target.limits?.check() : undefined;
  return limit ? { ...result, limit } : result;
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

/** Kills the processes of one exec (see REAPER_SCRIPT); false when the reaper could not finish. */
async function reap(container: Docker.Container, execId: string): Promise<boolean> {
  const result = await runScript(container, REAPER_SCRIPT, [execId]);
  return result?.exitCode === 0;
}

/**
 * A helper script of the driver's own in the container, its stdout kept. Undefined when it could not run:
 * the container is gone (nothing of a command survives it) or full (the pids limit).
 */
async function runScript(
  container: Docker.Container,
  script: string,
  args: readonly string[],
): Promise<{ exitCode: number; stdout: string } | undefined> {
  try {
    const exec = await container.exec({
      Cmd: ['sh', '-c', script, 'ci-fixer', ...args],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = (await exec.start({ Detach: false, Tty: false })) as Readable;
    const stdout = new OutputBuffer(65_536);
    const ended = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    container.modem.demuxStream(
      stream,
      sink(stdout, undefined),
      new Writable({ write: (_c, _e, done) => done() }),
    );
    await ended;
    return { exitCode: await exitCodeOf(exec, false), stdout: stdout.text() };
  } catch {
    return undefined;
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

import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { proxyEnvironment } from '../egress/environment.ts';
import type { EgressGrant } from '../egress/proxy.ts';
import { collectInto, ExecDeadline } from '../exec-control.ts';
import { OutputBuffer } from '../output-buffer.ts';
import type { ExecOptions, ExecResult } from '../types.ts';
import { joinCgroupArgv, type SandboxCgroup } from './cgroup.ts';
import { bwrapArgs, type LocalIsolation } from './isolation.ts';
import { killGroup, processStartTime } from './process-group.ts';

/** Everything one local command needs to know about the sandbox it runs in. */
export interface LocalCommandContext {
  isolation: LocalIsolation;
  /** The driver's root: hidden inside, since every other sandbox lives there. */
  root: string;
  dir: string;
  workdir: string;
  env: Record<string, string>;
  cacheDir: string | undefined;
  readOnlyHostPaths: readonly string[];
  limits: { memoryBytes: number; pids: number; diskBytes: number };
  cgroup: SandboxCgroup | undefined;
  egress: { grant: EgressGrant; socket: string } | undefined;
  defaults: { timeoutMs: number; maxOutputBytes: number };
  /** Registers a running command's stop, so destroy() can end it; returns the unregister. */
  track: (stop: () => void) => () => void;
}

const SIGXFSZ_EXIT = 128 + os.constants.signals.SIGXFSZ;

/**
 * Runs one command: in a cgroup of its own under the sandbox's (limits, and a way to kill whatever it
 * leaves), under per-process rlimits, and under bubblewrap unless isolation is `none`.
 */
export async function runLocalCommand(
  context: LocalCommandContext,
  argv: readonly string[],
  cwd: string,
  options: ExecOptions,
): Promise<ExecResult> {
  const bwrap = context.isolation === 'bwrap';
  const home = path.join(context.dir, 'home');
  const env = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    TMPDIR: bwrap ? '/tmp' : path.join(context.dir, 'tmp'),
    ...context.env,
    ...options.env,
    // Last, so that nothing inherited or passed can point a command past its proxy.
    ...(context.egress ? proxyEnvironment(context.egress.grant) : {}),
  };
  const command = bwrap
    ? [
        'bwrap',
        ...bwrapArgs(
          {
            hidden: [context.root, ...(context.cacheDir ? [path.dirname(context.cacheDir)] : [])],
            writable: [context.workdir, home, ...(context.cacheDir ? [context.cacheDir] : [])],
            readOnly: [...context.readOnlyHostPaths],
            cwd,
            env,
            ...(context.egress ? { egressSocket: context.egress.socket } : {}),
          },
          argv,
        ),
      ]
    : [...argv];
  const limited = ['prlimit', ...rlimits(context), '--', ...command];
  const group = await context.cgroup?.forCommand();
  const full = group ? joinCgroupArgv(group.procs, limited) : limited;

  const started = performance.now();
  const stdout = new OutputBuffer(options.maxOutputBytes ?? context.defaults.maxOutputBytes);
  const stderr = new OutputBuffer(options.maxOutputBytes ?? context.defaults.maxOutputBytes);
  // A process group of its own, so that a timeout reaches everything the command started.
  const child = spawn(full[0]!, full.slice(1), {
    cwd: bwrap ? undefined : cwd,
    // Under bubblewrap the sandbox's environment is set inside (--clearenv, --setenv); the wrapper needs
    // only a PATH to find bwrap.
    env: bwrap ? { PATH: '/usr/local/bin:/usr/bin:/bin' } : env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Everything that listens goes on before the first await: a quick command may finish, output and all,
  // in between.
  let failedToStart: number | undefined;
  const exited = new Promise<number>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      stderr.push(Buffer.from(`${argv[0]}: ${error.message}\n`));
      failedToStart = error.code === 'ENOENT' ? 127 : 126;
      resolve(failedToStart);
    });
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
  });
  const closed = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve());
  });
  child.stdout.on('data', collectInto(stdout, options.onStdout));
  child.stderr.on('data', collectInto(stderr, options.onStderr));

  const pid = child.pid;
  const kill = () => {
    if (pid !== undefined) killGroup(pid);
    void group?.destroy();
  };
  const deadline = new ExecDeadline(options.timeoutMs ?? context.defaults.timeoutMs, options.signal, kill);
  const untrack = context.track(() => deadline.abort());

  // Recorded so that a reaper in another process can kill the group if this process dies.
  const pidFile = pid === undefined ? undefined : path.join(context.dir, 'pids', String(pid));
  if (pid !== undefined && pidFile) await fs.writeFile(pidFile, processStartTime(pid) ?? '').catch(() => {});
  const exitCode = await exited;
  // Whatever the command left behind ends with it, in its group or out of it (setsid, double forks):
  // the cgroup holds them all; without one, bubblewrap's pid namespace or the process group does.
  if (pid !== undefined) killGroup(pid);
  const oomKilled = group ? (await group.oomKills()) > 0 : false;
  await group?.destroy();
  await closed;
  deadline.dispose();
  untrack();
  if (pidFile) await fs.rm(pidFile, { force: true });
  const result = deadline.result(exitCode, stdout, stderr, started);
  if (oomKilled) return { ...result, limit: 'memory' };
  if (exitCode === SIGXFSZ_EXIT && failedToStart === undefined) return { ...result, limit: 'file size' };
  return result;
}

/** Per-process limits: the file size always; memory and processes only where no cgroup holds them. */
function rlimits(context: LocalCommandContext): string[] {
  const limits = [`--fsize=${context.limits.diskBytes}`];
  if (!context.cgroup) limits.push(`--data=${context.limits.memoryBytes}`, `--nproc=${context.limits.pids}`);
  return limits;
}

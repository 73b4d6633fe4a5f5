import { constants } from 'node:os';
import type { ExecResult, Sandbox, SandboxLimits } from '@ci-fixer/sandbox';
import { PlatformError } from '@ci-fixer/contract';

/** The limits a command ran under, for reasons that name the one it hit. Unknown sizes are left out. */
export interface CommandLimits extends SandboxLimits {
  timeoutMs: number;
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name]));
// Only sent from inside a sandbox that is still alive (see sandboxEndedFromOutside): so not by a reaper.
const KILL_CAUSES: Record<string, string> = {
  SIGKILL: 'from inside the sandbox, at no limit the sandbox reported',
  SIGTERM: 'asked to stop',
  SIGXFSZ: "a file larger than the sandbox's file size limit, SANDBOX_DISK_MB",
  SIGXCPU: 'the CPU time limit',
};
// What a shell or make prints when a process they started dies of a signal they did not send:
//   bash: line 1:  4242 Killed                  go test ./...
//   make: *** [Makefile:3: check] Killed          make: *** [Makefile:3: check] Error 137
const SHELL_KILLED = /^(?:\S+: )?(?:line \d+: )?\s*\d+ (Killed|Terminated|File size limit exceeded)\b.*$/m;
const MAKE_KILLED =
  /^g?make(?:\[\d+\])?: \*\*\* \[[^\]]*\] (Killed|Terminated|File size limit exceeded|Error 137)$/m;
const MESSAGE_SIGNALS: Record<string, string> = {
  Killed: 'SIGKILL',
  'Error 137': 'SIGKILL',
  Terminated: 'SIGTERM',
  'File size limit exceeded': 'SIGXFSZ',
};

const mib = (bytes: number | undefined) => (bytes ? ` of ${Math.round(bytes / 1_048_576)} MiB` : '');
/**
 * Each limit a driver reports (ExecResult.limit), in words with its size and its setting. Keyed by string, so
 * that a limit a driver learns to report later still reads as a limit.
 */
const LIMITS: Record<string, (limits: CommandLimits) => string> = {
  memory: (limits) => `killed: memory limit${mib(limits.memoryBytes)} reached (SANDBOX_MEMORY_MB)`,
  'file size': (limits) =>
    `killed: file size limit${mib(limits.diskBytes)} reached, a file it wrote was larger (SANDBOX_DISK_MB)`,
  disk: (limits) =>
    `stopped: disk limit${mib(limits.diskBytes)} reached, the workspace is full (SANDBOX_DISK_MB)`,
  pids: (limits) =>
    `stopped: process limit${limits.pids ? ` of ${limits.pids}` : ''} reached, no more processes could start (SANDBOX_PIDS)`,
  time: (limits) => timeLimit(limits),
};
const timeLimit = (limits: CommandLimits) =>
  `killed: time limit of ${Math.round(limits.timeoutMs / 1000)} s reached (SANDBOX_COMMAND_TIMEOUT_SECONDS)`;

/**
 * What happened to a command that did not end by itself: a timeout, a sandbox limit or a kill says so (with
 * the limit and its size), instead of being diagnosed from whatever output it left. Undefined for a command
 * that exited. These are the repository's outcomes; a sandbox ended from outside is not one of them (see
 * sandboxEndedFromOutside, which runs first).
 */
export function killReason(result: ExecResult, limits: CommandLimits): string | undefined {
  if (result.timedOut) return `the command was ${timeLimit(limits)}`;
  // The driver knows the limit even when a child died of it and the command exited by itself after.
  if (result.limit) {
    const text = LIMITS[result.limit]?.(limits) ?? `stopped: the sandbox's ${result.limit} limit reached`;
    return `the command was ${text}; exit ${result.exitCode}`;
  }
  if (result.exitCode === 143) return 'the command was terminated (exit 143: SIGTERM)';
  const signal = result.exitCode > 128 ? SIGNAL_NAMES.get(result.exitCode - 128) : undefined;
  if (signal && KILL_CAUSES[signal])
    return `the command was killed (exit ${result.exitCode}, ${signal}: ${KILL_CAUSES[signal]})`;
  return innerKill(`${result.stdout}\n${result.stderr}`);
}

/** A process the command started that was killed, as its shell or make reported it. */
function innerKill(output: string): string | undefined {
  const printed = SHELL_KILLED.exec(output) ?? MAKE_KILLED.exec(output);
  if (!printed) return undefined;
  const signal = MESSAGE_SIGNALS[printed[1]!]!;
  return `a process the command started was killed (${signal}: ${KILL_CAUSES[signal]}): ${printed[0].trim().replace(/\s+/g, ' ')}`;
}

/**
 * Decides who a SIGKILL came from. A command killed at no limit of its own, in a sandbox that no longer runs
 * commands, was ended from outside (a reaper, a lost node, the container engine): a PlatformError, worth a
 * retry, and never the repository's `unfixable`. A sandbox that still answers killed its own command.
 */
export async function sandboxEndedFromOutside(
  sandbox: Sandbox,
  result: ExecResult,
  shown: string,
): Promise<PlatformError | undefined> {
  if (result.exitCode !== 137 || result.limit || result.timedOut || result.aborted) return undefined;
  const alive = await sandbox.exec(['true'], { timeoutMs: 30_000 }).then(
    (probe) => (probe.exitCode === 0 ? undefined : `it answers exit ${probe.exitCode} to \`true\``),
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
  if (alive === undefined) return undefined;
  return new PlatformError(
    `the sandbox was ended from outside while \`${shown}\` ran (exit 137, SIGKILL at no sandbox limit; ${alive})`,
    { fault: 'sandbox-gone' },
  );
}

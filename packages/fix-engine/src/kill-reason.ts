import { constants } from 'node:os';
import type { ExecResult } from '@ci-fixer/sandbox';

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name]));
const KILL_CAUSES: Record<string, string> = {
  SIGKILL: 'out of memory, a sandbox limit or a reaper',
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

/**
 * What happened to a command that did not end by itself: a timeout, a sandbox limit or a kill says so (and
 * which limit), instead of being diagnosed from whatever output it left. Undefined for a command that exited.
 */
export function killReason(result: ExecResult, timeoutMs: number): string | undefined {
  if (result.timedOut)
    return `the command timed out after ${Math.round(timeoutMs / 1000)} s (SANDBOX_COMMAND_TIMEOUT_SECONDS)`;
  // The driver knows the limit even when a child died of it and the command exited by itself after.
  if (result.limit === 'memory')
    return `the command was killed: out of memory (the sandbox's memory limit, SANDBOX_MEMORY_MB; exit ${result.exitCode})`;
  if (result.limit === 'file size')
    return `the command was killed: it wrote a file larger than the sandbox's file size limit (SANDBOX_DISK_MB; exit ${result.exitCode})`;
  if (result.exitCode === 137)
    return 'the command was killed (exit 137, SIGKILL: out of memory, a sandbox limit or a reaper)';
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

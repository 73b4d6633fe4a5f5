import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * A process's start time in clock ticks since boot (field 22 of /proc/PID/stat). Together with the pid it
 * names one process for good: a reused pid has a different start time.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses, so count fields after its closing paren.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number, startTime?: string): boolean {
  const actual = processStartTime(pid);
  return actual !== undefined && (startTime === undefined || actual === startTime);
}

/**
 * Kills a whole process group with SIGKILL. Members may outlive the leader, and Linux reuses no group id
 * while a member lives; so the group is ours unless a different process now leads it.
 */
export function killGroup(pid: number, startTime?: string): void {
  const leaderStart = processStartTime(pid);
  if (startTime !== undefined && leaderStart !== undefined && leaderStart !== startTime) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Kills the process groups recorded in `pidDir` (one file per group leader, holding its start time). */
export async function killRecordedGroups(pidDir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(pidDir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const startTime = await readFile(path.join(pidDir, entry), 'utf8').catch(() => '');
    killGroup(Number(entry), startTime || undefined);
  }
}

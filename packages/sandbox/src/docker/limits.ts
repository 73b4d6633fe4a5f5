import type { SandboxLimits } from '../types.ts';

/**
 * The sizes of the sandbox's tmpfs mounts. Their pages are charged to the container's memory cgroup and,
 * without swap, cannot be reclaimed: a memory limit filled with files leaves every later command to the
 * OOM killer. So together they stay below it, leaving a quarter for processes: the workspace gets
 * `diskBytes` up to half the memory limit, /tmp and $HOME an eighth each. A filler then meets a full
 * filesystem (reported as `limit: 'disk'`) and the sandbox goes on working.
 */
export function tmpfsSizes(limits: SandboxLimits): { workspace?: number; scratch?: number } {
  const memory = limits.memoryBytes;
  if (!memory) return limits.diskBytes ? { workspace: limits.diskBytes } : {};
  const half = Math.floor(memory / 2);
  return {
    workspace: limits.diskBytes ? Math.min(limits.diskBytes, half) : half,
    scratch: Math.floor(memory / 8),
  };
}

export function describeLimits(limits: SandboxLimits): string {
  const { workspace } = tmpfsSizes(limits);
  const parts = [
    limits.cpus ? `${limits.cpus} CPUs` : undefined,
    limits.memoryBytes ? `${Math.round(limits.memoryBytes / 1_048_576)} MiB memory` : undefined,
    limits.pids ? `${limits.pids} processes` : undefined,
    workspace ? `a ${Math.round(workspace / 1_048_576)} MiB workspace (tmpfs, in memory)` : undefined,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'none';
}

/** The limits a spec gives, without the keys it names but leaves undefined (those keep the default). */
export function definedLimits(limits: SandboxLimits | undefined): SandboxLimits {
  return Object.fromEntries(Object.entries(limits ?? {}).filter(([, value]) => value !== undefined));
}

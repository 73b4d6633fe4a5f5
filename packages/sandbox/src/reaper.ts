import { LABELS, MANAGED_BY } from './labels.ts';
import type { SandboxDriver } from './types.ts';

export interface ReapOptions {
  /** Whether the worker that created a sandbox still lives (for example, its Redis heartbeat exists). */
  isOwnerAlive: (owner: string) => Promise<boolean>;
  /** Sandboxes younger than this are left alone, so a worker that just started is not raced. */
  minAgeMs?: number;
  /** Only sandboxes carrying these labels as well: a deployment reaps its own, never another's. */
  selector?: Record<string, string>;
}

export interface ReapReport {
  reaped: string[];
  failed: { id: string; error: unknown }[];
}

/** Destroys every ci-fixer sandbox whose owner is gone. Safe to run from many workers at once. */
export async function reapOrphans(driver: SandboxDriver, options: ReapOptions): Promise<ReapReport> {
  const report: ReapReport = { reaped: [], failed: [] };
  const alive = new Map<string, boolean>();
  const now = Date.now();
  for (const sandbox of await driver.list({ ...options.selector, [LABELS.managedBy]: MANAGED_BY })) {
    if (now - sandbox.createdAt.getTime() < (options.minAgeMs ?? 0)) continue;
    const owner = sandbox.labels[LABELS.owner];
    if (owner) {
      if (!alive.has(owner)) alive.set(owner, await options.isOwnerAlive(owner));
      if (alive.get(owner)) continue;
    }
    try {
      await driver.destroy(sandbox.id);
      report.reaped.push(sandbox.id);
    } catch (error) {
      report.failed.push({ id: sandbox.id, error });
    }
  }
  return report;
}

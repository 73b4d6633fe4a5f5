import { fileURLToPath } from 'node:url';
import { PlatformError, type FixRequest, type FixResult } from '@ci-fixer/contract';
import { LABELS, MANAGED_BY, toLabelValue, type Sandbox, type SandboxDriver } from '@ci-fixer/sandbox';
import { dependencyCacheDir } from './cache-env.ts';
import { isLocalRepoUrl } from './git-env.ts';
import { runFix, type FixOptions } from './pipeline.ts';
import { sandboxVanished } from './sandbox-watch.ts';

export interface SandboxFixOptions extends Omit<FixOptions, 'sandbox' | 'request'> {
  /** Who owns the sandbox: a worker id, or the CLI's own; a reaper destroys sandboxes of dead owners. */
  owner: string;
  /** The fix job the sandbox is for, shown in its labels. */
  jobId?: string;
  /** Further labels, such as the deployment the owner belongs to. */
  labels?: Record<string, string>;
  /** Environment every command starts with (trust stores, proxies of the operator's choosing). */
  env?: Record<string, string>;
  /** Host files those variables name (CA bundles), shown read-only where the driver shares the host. */
  hostFiles?: readonly string[];
  /** Hosts the sandbox may reach besides the repository's own git host: the package registries. */
  egress: readonly string[];
  /** Dependency caches kept across jobs, where the driver can mount them. */
  cache?: { root: string; scope: 'repository' | 'shared' };
  /** The sandbox ends itself after this long even if nobody destroys it. */
  maxLifetimeSeconds?: number;
  /** Called once the sandbox exists, with how long creating it took. */
  onSandbox?: (sandbox: Sandbox, createMs: number) => void;
}

/**
 * The one way to run a fix: creates a sandbox for the request, runs the pipeline in it and always destroys
 * it. A sandbox that vanished under the run ends it as a PlatformError (retried), never as an outcome; a
 * repository that cannot be fetched because it is missing or refused ends it as a PermanentError. Worker, CLI, evaluation and benchmarks all come through here, so that what a sandbox may reach and
 * see is decided in one place.
 */
export async function fixInSandbox(
  driver: SandboxDriver,
  request: FixRequest,
  options: SandboxFixOptions,
): Promise<FixResult> {
  const { owner, jobId, labels, env, hostFiles, egress, cache, maxLifetimeSeconds, onSandbox, ...fix } =
    options;
  const localRepo = localRepoPath(request.repo.url);
  const hostPaths = driver.capabilities.hostPaths ? [...localRepo, ...(hostFiles ?? [])] : [];
  const cacheDir =
    cache && driver.capabilities.cacheDir
      ? dependencyCacheDir(cache.root, request.repo.url, cache.scope)
      : undefined;
  const creating = performance.now();
  const sandbox = await driver.create({
    labels: {
      ...labels,
      [LABELS.managedBy]: MANAGED_BY,
      [LABELS.owner]: toLabelValue(owner),
      ...(jobId ? { [LABELS.fixJob]: toLabelValue(jobId) } : {}),
    },
    egress: [...gitEgress(request.repo.url), ...egress],
    ...(env ? { env } : {}),
    ...(hostPaths.length ? { readOnlyHostPaths: [...new Set(hostPaths)] } : {}),
    ...(cacheDir ? { cacheDir } : {}),
    ...(maxLifetimeSeconds ? { maxLifetimeSeconds } : {}),
    // The same limits the reasons name, so that a reason never quotes a size the sandbox did not have.
    ...(fix.limits ? { limits: fix.limits } : {}),
  });
  onSandbox?.(sandbox, performance.now() - creating);
  try {
    let result: FixResult;
    try {
      result = await runFix({ ...fix, sandbox, request });
    } catch (error) {
      // The engine saw the kill itself and says which command it cut short; any other failure may be the
      // vanished sandbox's doing.
      if (error instanceof PlatformError && error.fault === 'sandbox-gone') throw error;
      const gone = await sandboxVanished(driver, sandbox, error).catch(() => undefined);
      throw gone ?? error;
    }
    // A fix that was verified stands however the sandbox ended after; any other outcome may be the kill's.
    if (result.outcome !== 'fixed') {
      const gone = await sandboxVanished(driver, sandbox);
      if (gone) throw gone;
    }
    return result;
  } finally {
    await sandbox.destroy();
  }
}

/** The egress entry for a repository's git host: `host:port` of an https or ssh URL; none for local paths. */
export function gitEgress(url: string): string[] {
  if (isLocalRepoUrl(url)) return [];
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/\/)/.exec(url);
  if (scp && !url.includes('://')) return [`${scp[1]!.toLowerCase()}:22`];
  try {
    const parsed = new URL(url);
    const port = parsed.port || (parsed.protocol === 'ssh:' ? '22' : '443');
    return [`${parsed.hostname.toLowerCase()}:${port}`];
  } catch {
    return [];
  }
}

/** A local repository's path, which must be visible inside the sandbox to be cloned. */
function localRepoPath(url: string): string[] {
  if (!isLocalRepoUrl(url)) return [];
  return [url.startsWith('file://') ? fileURLToPath(url) : url];
}

import { PlatformError } from '@ci-fixer/contract';
import type { Sandbox, SandboxDriver } from '@ci-fixer/sandbox';

/**
 * A PlatformError when the driver no longer has the sandbox (a reaper, node loss, its lifetime ran out):
 * whatever the run concluded in it was cut short from outside and is no answer about the repository.
 */
export async function sandboxVanished(
  driver: SandboxDriver,
  sandbox: Sandbox,
  cause?: unknown,
): Promise<PlatformError | undefined> {
  const present = await driver.list(sandbox.labels);
  if (present.some((info) => info.id === sandbox.id)) return undefined;
  return new PlatformError(`the sandbox ${sandbox.id} was destroyed from outside while the fix ran`, {
    fault: 'sandbox-gone',
    cause,
    context: { sandbox: sandbox.id, driver: driver.name },
  });
}

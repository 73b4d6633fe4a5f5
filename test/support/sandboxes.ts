import { readdirSync } from 'node:fs';

/**
 * The local sandboxes under a SANDBOX_LOCAL_ROOT, as `<deployment>/sbx-…` paths: each deployment keeps its
 * sandboxes in a folder of its own there.
 */
export function localSandboxDirs(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((name) =>
    /^[^/]+\/sbx-[0-9a-f]{16}$/.test(name),
  );
}

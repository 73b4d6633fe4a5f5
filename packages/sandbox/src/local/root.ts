import os from 'node:os';
import path from 'node:path';

/** Where local sandboxes live unless SANDBOX_LOCAL_ROOT says otherwise; each deployment has a folder in it. */
export function defaultLocalRoot(): string {
  return path.join(os.tmpdir(), 'ci-fixer-sandboxes');
}

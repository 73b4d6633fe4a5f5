import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SandboxLimits } from '@ci-fixer/sandbox';
import { LocalDriver } from '@ci-fixer/sandbox/local';
import { afterAll, describe, expect, it } from 'vitest';
import { commitFiles } from '../../../test/support/fixture-repos.ts';
import { fixInSandbox } from '../src/fix-in-sandbox.ts';
import { PlatformError } from '@ci-fixer/contract';

// Commands that hit a limit of their own sandbox, and a sandbox ended from outside, through the real
// pipeline in real LocalDriver sandboxes (cgroups and rlimits of this machine) on real git repositories.
const work = mkdtempSync(path.join(os.tmpdir(), 'ci-fixer-kill-reasons-'));
const driver = new LocalDriver({ root: path.join(work, 'sandboxes') });
afterAll(() => rmSync(work, { recursive: true, force: true }));

let count = 0;
function repo(files: Record<string, string>): string {
  return commitFiles(path.join(work, `repo-${++count}`), files);
}

const fix = (
  dir: string,
  command: string,
  limits?: SandboxLimits,
  hooks: Pick<Parameters<typeof fixInSandbox>[2], 'onSandbox' | 'onOutput'> = {},
) =>
  fixInSandbox(
    driver,
    { repo: { url: pathToFileURL(dir).href }, command },
    {
      owner: 'kill-reasons-test',
      egress: [],
      commandTimeoutMs: 60_000,
      ...(limits ? { limits } : {}),
      ...hooks,
    },
  );

describe('a command that hits a limit of its own sandbox: the repository’s outcome, with the limit', () => {
  it('the memory limit, with its size', async () => {
    const result = await fix(repo({ 'README.md': 'x\n' }), 'python3 -c "x = bytearray(600 << 20)"', {
      memoryBytes: 128 * 1_048_576,
    });
    expect(result.outcome).toBe('unfixable');
    expect(result.reason).toBe(
      'the command was killed: memory limit of 128 MiB reached (SANDBOX_MEMORY_MB); exit 137',
    );
    expect(result.diagnosis?.summary).toBe(result.reason);
  });

  it('the memory limit hit by a process make started, though make exits by itself', async () => {
    const dir = repo({ Makefile: 'test:\n\t@echo testing\n\tpython3 -c "x = bytearray(600 << 20)"\n' });
    const result = await fix(dir, 'make test', { memoryBytes: 128 * 1_048_576 });
    expect(result.outcome).toBe('unfixable');
    expect(result.reason).toBe(
      'the command was killed: memory limit of 128 MiB reached (SANDBOX_MEMORY_MB); exit 2',
    );
  });

  it('the file size limit, with its size', async () => {
    const result = await fix(repo({ 'README.md': 'x\n' }), 'head -c 4000000 /dev/zero > big.bin', {
      diskBytes: 1_048_576,
    });
    expect(result.outcome).toBe('unfixable');
    expect(result.reason).toBe(
      'the command was killed: file size limit of 1 MiB reached, a file it wrote was larger (SANDBOX_DISK_MB); exit 153',
    );
  });
});

describe('a sandbox ended from outside while the check ran', () => {
  it('is a PlatformError (retried), never the repository’s unfixable', async () => {
    let sandboxId = '';
    let destroying: Promise<void> | undefined;
    const run = fix(repo({ 'README.md': 'x\n' }), 'echo started; sleep 30', undefined, {
      onSandbox: (sandbox) => {
        sandboxId = sandbox.id;
      },
      // As a reaper does, once the check is running: the sandbox is destroyed by id, not by its owner.
      onOutput: (chunk) => {
        if (chunk.includes('started') && !destroying) destroying = driver.destroy(sandboxId);
      },
    });
    const error = await run.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    await destroying;
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as PlatformError).fault).toBe('sandbox-gone');
    // Whichever saw it first: the step that was killed, or the check after the run that the sandbox is gone.
    expect((error as Error).message).toMatch(
      /^the sandbox (was ended from outside while `echo started; sleep 30` ran \(exit 137, SIGKILL at no sandbox limit; |sbx-[0-9a-f]+ was destroyed from outside while the fix ran)/,
    );
  });
});

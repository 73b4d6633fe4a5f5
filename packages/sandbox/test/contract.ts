/**
 * The sandbox contract, as one suite that every driver runs unchanged. A driver that passes it is done.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LABELS,
  MANAGED_BY,
  reapOrphans,
  type Sandbox,
  type SandboxDriver,
  type SandboxSpec,
} from '../src/index.ts';

export interface ContractTarget {
  driver: SandboxDriver;
  /** What the driver needs to create a sandbox here (an image, for container drivers). */
  spec?: Partial<SandboxSpec>;
}

export function sandboxContract(name: string, setup: () => Promise<ContractTarget>): void {
  describe(`sandbox contract: ${name}`, () => {
    let target: ContractTarget;
    let sandbox: Sandbox;
    const owner = `contract-${randomBytes(4).toString('hex')}`;
    const create = (labels: Record<string, string> = {}) =>
      target.driver.create({
        ...target.spec,
        labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: owner, ...labels },
      });

    beforeAll(async () => {
      target = await setup();
      sandbox = await create();
    });
    afterAll(async () => sandbox?.destroy());

    it.each([
      ['exit 0', 0],
      ['exit 1', 1],
      ['exit 3', 3],
      ['kill -TERM $$', 143],
      ['kill -KILL $$', 137],
    ])('reports the exit status of `%s` as %i', async (script, code) => {
      expect((await sandbox.exec(['sh', '-c', script])).exitCode).toBe(code);
    });

    it('keeps stdout and stderr apart and streams each in order', async () => {
      const out: string[] = [];
      const err: string[] = [];
      const result = await sandbox.exec(
        ['sh', '-c', 'echo one; echo uno >&2; sleep 0.2; echo two; echo dos >&2'],
        {
          onStdout: (chunk) => out.push(chunk),
          onStderr: (chunk) => err.push(chunk),
        },
      );
      expect(result.stdout).toBe('one\ntwo\n');
      expect(result.stderr).toBe('uno\ndos\n');
      expect(out.join('')).toBe('one\ntwo\n');
      expect(err.join('')).toBe('uno\ndos\n');
      expect(out.length).toBeGreaterThanOrEqual(2);
    });

    it('caps large output, keeps head and tail, and flags the truncation', async () => {
      const result = await sandbox.exec(
        [
          'sh',
          '-c',
          'echo FIRST; i=0; while [ $i -lt 5000 ]; do echo "line $i of filler text"; i=$((i+1)); done; echo LAST',
        ],
        { maxOutputBytes: 4096 },
      );
      expect(result.exitCode).toBe(0);
      expect(result.stdoutTruncated).toBe(true);
      expect(result.stderrTruncated).toBe(false);
      expect(result.stdout.length).toBeLessThan(4096 + 100);
      expect(result.stdout.startsWith('FIRST\n')).toBe(true);
      expect(result.stdout.endsWith('LAST\n')).toBe(true);
    });

    it('kills a command that outlives its timeout, and everything it started', async () => {
      const script = '(while true; do echo tick >> ticks; sleep 0.1; done) & sleep 30';
      const result = await sandbox.exec(['sh', '-c', script], { timeoutMs: 1000 });
      expect(result.timedOut).toBe(true);
      expect(result.exitCode).not.toBe(0);
      expect(result.durationMs).toBeLessThan(20_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const before = (await sandbox.readFile('ticks')).length;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect((await sandbox.readFile('ticks')).length).toBe(before);
    });

    it('stops a command when its signal aborts', async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      const result = await sandbox.exec(['sleep', '30'], { signal: controller.signal });
      expect(result.aborted).toBe(true);
      expect(result.timedOut).toBe(false);
    });

    it('runs in the given working directory with the given environment', async () => {
      await sandbox.exec(['mkdir', '-p', 'sub/dir']);
      const result = await sandbox.exec(['sh', '-c', 'pwd; echo "$GREETING"'], {
        cwd: 'sub/dir',
        env: { GREETING: 'hello sandbox' },
      });
      expect(result.stdout).toBe(`${sandbox.workdir}/sub/dir\nhello sandbox\n`);
    });

    it('runs commands concurrently in one sandbox', async () => {
      const results = await Promise.all(
        [1, 2, 3, 4, 5].map((n) => sandbox.exec(['sh', '-c', `sleep 0.3; echo ${n}`])),
      );
      expect(results.map((result) => result.stdout.trim())).toEqual(['1', '2', '3', '4', '5']);
    });

    it('writes and reads files byte for byte', async () => {
      const allBytes = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
      const heredocTrap = 'cat <<EOF\nline one\nEOF\nline after\n';
      const large = randomBytes(10 * 1024 * 1024);
      await sandbox.writeFile('bytes.bin', allBytes);
      await sandbox.writeFile('nested/dir/heredoc.txt', heredocTrap);
      await sandbox.writeFile('large.bin', large);
      expect(Buffer.compare(await sandbox.readFile('bytes.bin'), allBytes)).toBe(0);
      expect((await sandbox.readFile('nested/dir/heredoc.txt')).toString()).toBe(heredocTrap);
      expect(Buffer.compare(await sandbox.readFile('large.bin'), large)).toBe(0);
      // Commands see what was written, and files they write can be read back.
      expect((await sandbox.exec(['sh', '-c', 'wc -c < bytes.bin'])).stdout.trim()).toBe('256');
      await sandbox.exec(['sh', '-c', 'printf "made\\000inside" > made.bin']);
      expect(await sandbox.readFile('made.bin')).toEqual(Buffer.from('made\0inside'));
    });

    it('fails clearly when reading a file that does not exist', async () => {
      await expect(sandbox.readFile('missing.txt')).rejects.toThrow(/missing\.txt/);
    });

    it('lists sandboxes by owner label', async () => {
      const otherOwner = `${owner}-other`;
      const other = await create({ [LABELS.owner]: otherOwner });
      try {
        const mine = await target.driver.list({ [LABELS.owner]: owner });
        expect(mine.map((info) => info.id)).toContain(sandbox.id);
        expect(mine.map((info) => info.id)).not.toContain(other.id);
        const theirs = await target.driver.list({ [LABELS.owner]: otherOwner });
        expect(theirs.map((info) => info.id)).toEqual([other.id]);
        expect(theirs[0]!.labels[LABELS.managedBy]).toBe(MANAGED_BY);
      } finally {
        await other.destroy();
      }
    });

    it('reaps a sandbox whose owner died, and keeps those of living owners', async () => {
      const deadOwner = `${owner}-dead`;
      const orphan = await create({ [LABELS.owner]: deadOwner });
      const report = await reapOrphans(target.driver, {
        isOwnerAlive: async (candidate) => candidate !== deadOwner,
      });
      expect(report.reaped).toContain(orphan.id);
      expect(report.reaped).not.toContain(sandbox.id);
      const remaining = (await target.driver.list()).map((info) => info.id);
      expect(remaining).not.toContain(orphan.id);
      expect(remaining).toContain(sandbox.id);
      await orphan.destroy();
    });

    it('destroys idempotently, and refuses work afterwards', async () => {
      const doomed = await create();
      await doomed.exec(['true']);
      await doomed.destroy();
      await doomed.destroy();
      await target.driver.destroy(doomed.id);
      await expect(doomed.exec(['true'])).rejects.toThrow(/destroyed/);
      expect((await target.driver.list()).map((info) => info.id)).not.toContain(doomed.id);
    });
  });
}

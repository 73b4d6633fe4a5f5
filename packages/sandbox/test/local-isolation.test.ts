/** What bubblewrap adds to the local driver, beyond the contract every driver meets. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS, MANAGED_BY, type Sandbox } from '../src/index.ts';
import { LocalDriver } from '../src/local/index.ts';

describe('local driver under bubblewrap', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'cif-isolation-'));
  const driver = new LocalDriver({ root, isolation: 'bwrap' });
  let sandbox: Sandbox;
  beforeAll(async () => {
    process.env.CI_FIXER_TEST_SECRET = 'worker-secret-value';
    sandbox = await driver.create({
      labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: 'isolation' },
    });
  });
  afterAll(async () => {
    delete process.env.CI_FIXER_TEST_SECRET;
    await sandbox.destroy();
  });

  it('keeps the host read-only and the workspace writable', async () => {
    expect((await sandbox.exec(['sh', '-c', 'touch /usr/ci-fixer-probe'])).exitCode).not.toBe(0);
    // The sandbox's parent directory exists inside only as part of its private /tmp; nothing reaches the host.
    await sandbox.exec(['sh', '-c', `touch ${root}/outside-probe`]);
    expect(existsSync(path.join(root, 'outside-probe'))).toBe(false);
    expect((await sandbox.exec(['touch', 'inside'])).exitCode).toBe(0);
  });

  it('gives each command a private /tmp', async () => {
    await sandbox.exec(['sh', '-c', 'echo hidden > /tmp/probe']);
    expect((await sandbox.exec(['cat', '/tmp/probe'])).exitCode).not.toBe(0);
  });

  it("shows nothing of the worker's environment", async () => {
    const env = (await sandbox.exec(['env'])).stdout;
    expect(env).not.toContain('worker-secret-value');
    expect(env).toContain(`HOME=${path.join(root, sandbox.id, 'home')}`);
  });

  it('runs as an unprivileged user with no capabilities', async () => {
    const status = (await sandbox.exec(['cat', '/proc/self/status'])).stdout;
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect((await sandbox.exec(['id', '-u'])).stdout.trim()).toBe('1000');
  });

  it('has no network when the spec says so', async () => {
    const interfaces = (await sandbox.exec(['cat', '/proc/net/dev'])).stdout;
    expect(interfaces).not.toMatch(/eth0|ens\d|enp\d/);
  });

  it('refuses paths that leave the workspace, by name or by symlink', async () => {
    await expect(sandbox.readFile('../sandbox.json')).rejects.toThrow(/outside the sandbox workspace/);
    await sandbox.exec(['ln', '-s', '/etc', 'escape']);
    await expect(sandbox.readFile('escape/hostname')).rejects.toThrow(/leads outside the sandbox workspace/);
    await sandbox.exec(['ln', '-s', '/tmp/ci-fixer-write-probe', 'planted']);
    await expect(sandbox.writeFile('planted', 'x')).rejects.toThrow(/cannot write planted/);
  });
});

describe('orphan sweep', () => {
  it('removes the sandboxes of a process that exited without destroying them', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'cif-sweep-'));
    const script = `
      import { LocalDriver } from ${JSON.stringify(path.resolve(import.meta.dirname, '../src/local/index.ts'))};
      const driver = new LocalDriver({ root: ${JSON.stringify(root)} });
      await driver.create({ labels: { 'ci-fixer.dev/owner': 'short-lived' } });
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    expect(readdirSync(root)).toHaveLength(1);
    const driver = new LocalDriver({ root });
    const swept = await driver.sweepDeadOwners();
    expect(swept).toHaveLength(1);
    expect(readdirSync(root)).toEqual([]);
    const mine = await driver.create({ labels: { 'ci-fixer.dev/owner': 'alive' } });
    expect(await driver.sweepDeadOwners()).toEqual([]);
    await mine.destroy();
  });
});

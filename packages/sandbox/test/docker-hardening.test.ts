/**
 * What the docker driver promises beyond the shared contract: the isolation of its containers, checked from
 * inside them and through the engine's inspect.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS, MANAGED_BY, type Sandbox, type SandboxSpec } from '../src/index.ts';
import { type DockerDriver } from '../src/docker/index.ts';
import { dockerTarget, EGRESS_IMAGE } from './docker-target.ts';

const MB = 1_048_576;

describe('docker driver hardening', () => {
  let driver: DockerDriver;
  const sandboxes: Sandbox[] = [];
  const owner = `hardening-${randomBytes(4).toString('hex')}`;
  const create = async (spec: Partial<SandboxSpec> = {}) => {
    const sandbox = await driver.create({
      labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: owner },
      ...spec,
    });
    sandboxes.push(sandbox);
    return sandbox;
  };
  const run = async (sandbox: Sandbox, script: string) => sandbox.exec(['sh', '-c', script]);

  beforeAll(async () => {
    ({ driver } = await dockerTarget());
  });
  afterAll(async () => {
    await Promise.all(sandboxes.map((sandbox) => sandbox.destroy()));
    await driver?.close();
  });

  it('has only loopback, with egress or without, and no socket or relay without egress', async () => {
    const offline = await create({});
    const online = await create({ image: EGRESS_IMAGE, egress: ['example.invalid'] });
    for (const sandbox of [offline, online]) {
      expect((await run(sandbox, 'ls /sys/class/net')).stdout.split(/\s+/).filter(Boolean)).toEqual(['lo']);
      const info = await driver.docker.getContainer(sandbox.id).inspect();
      expect(info.HostConfig.NetworkMode).toBe('none');
    }
    const offlineInfo = await driver.docker.getContainer(offline.id).inspect();
    expect(offlineInfo.Mounts.some((mount) => mount.Destination.includes('egress'))).toBe(false);
    expect((await run(offline, 'cat /proc/net/tcp | tail -n +2 | wc -l')).stdout.trim()).toBe('0');
    expect((await run(offline, 'echo "[$HTTPS_PROXY]"')).stdout).toBe('[]\n');
    // With egress: the relay listens on loopback, and commands are pointed at it.
    expect((await run(online, 'grep -c "0100007F:0C38 00000000:0000 0A" /proc/net/tcp')).stdout.trim()).toBe(
      '1',
    );
    expect(
      (await online.exec(['sh', '-c', 'echo "$HTTPS_PROXY"'], { env: { HTTPS_PROXY: 'http://elsewhere:1' } }))
        .stdout,
    ).toMatch(/^http:\/\/sandbox:[0-9a-f]{48}@127\.0\.0\.1:3128\n$/);
    const onlineInfo = await driver.docker.getContainer(online.id).inspect();
    const socket = onlineInfo.Mounts.find((mount) => mount.Destination === '/run/ci-fixer/egress.sock');
    expect(socket?.RW).toBe(false);
  });

  it('refuses egress in an image without socat, and says what to do', async () => {
    await expect(create({ egress: ['example.invalid'] })).rejects.toThrow(
      /the image .*test-busybox.* has no socat: it relays the sandbox's proxy traffic; add it, as Dockerfile.sandbox does/,
    );
    // The sandbox it started is gone again.
    const left = await driver.list({ [LABELS.owner]: owner });
    expect(left.map((info) => info.id).sort()).toEqual(sandboxes.map((sandbox) => sandbox.id).sort());
  });

  it('reports the isolation in force', async () => {
    const report = await driver.preflight();
    expect(report.isolation).toMatch(/network none/);
    expect(report.isolation).toMatch(/egress only through the driver's proxy/);
  });

  describe('in a default sandbox', () => {
    let sandbox: Sandbox;
    beforeAll(async () => {
      sandbox = await create({ limits: { memoryBytes: 256 * MB, pids: 128, cpus: 0.5, diskBytes: 64 * MB } });
    });

    it('runs as uid 1000 with no effective capabilities', async () => {
      expect((await run(sandbox, 'id -u; id -g')).stdout).toBe('1000\n1000\n');
      expect((await run(sandbox, 'grep CapEff /proc/self/status')).stdout).toMatch(/CapEff:\s+0{16}\n/);
    });

    it('cannot gain privileges: no-new-privileges is set', async () => {
      expect((await run(sandbox, 'grep NoNewPrivs /proc/self/status')).stdout).toMatch(/NoNewPrivs:\s+1/);
    });

    it('has a read-only root and writable workspace, /tmp and $HOME', async () => {
      const root = await run(sandbox, 'touch /etc/x');
      expect(root.exitCode).not.toBe(0);
      expect(root.stderr).toMatch(/read-only/i);
      const writable = await run(sandbox, 'touch /workspace/w /tmp/w "$HOME/w" && echo ok');
      expect(writable.stdout).toBe('ok\n');
      expect(writable.stderr).toBe('');
    });

    it('applies memory, cpu, pids and disk limits', async () => {
      const info = await driver.docker.getContainer(sandbox.id).inspect();
      expect(info.HostConfig.Memory).toBe(256 * MB);
      expect(info.HostConfig.MemorySwap).toBe(256 * MB);
      expect(info.HostConfig.PidsLimit).toBe(128);
      expect(info.HostConfig.NanoCpus).toBe(500_000_000);
      expect(info.HostConfig.ReadonlyRootfs).toBe(true);
      // The workspace is a tmpfs of diskBytes, as the kernel reports it from inside (df -P: 1024-blocks).
      const df = await run(sandbox, 'df -P /workspace | tail -n 1');
      expect(df.stdout.trim().split(/\s+/).slice(0, 2)).toEqual(['tmpfs', String((64 * MB) / 1024)]);
    });

    it('starts commands with the spec environment only, not the worker one', async () => {
      process.env.CI_FIXER_HARDENING_PROBE = 'leaked';
      try {
        const probe = await sandbox.exec(['sh', '-c', 'echo "[$CI_FIXER_HARDENING_PROBE]"']);
        expect(probe.stdout).toBe('[]\n');
      } finally {
        delete process.env.CI_FIXER_HARDENING_PROBE;
      }
      const withEnv = await create({ env: { SPEC_VAR: 'from spec' } });
      expect((await run(withEnv, 'echo "$SPEC_VAR"')).stdout).toBe('from spec\n');
    });

    it('kills on timeout even a child that left the command session', async () => {
      // setsid puts the loop in a session of its own; the environment marker still finds it.
      const script = 'setsid sh -c "while true; do echo tick >> escaped; sleep 0.1; done" & sleep 30';
      const result = await sandbox.exec(['sh', '-c', script], { timeoutMs: 1000 });
      expect(result.timedOut).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const before = (await sandbox.readFile('escaped')).length;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect((await sandbox.readFile('escaped')).length).toBe(before);
    });

    it('kills what a command left running when it ends, in its group or out of it', async () => {
      const marker = `4242${process.pid % 1000}`;
      // In its group, in a session of its own, double-forked, and without the environment marker.
      const script =
        `sleep ${marker}1 & setsid sh -c "sleep ${marker}2" & ` +
        `(setsid sh -c "sleep ${marker}3 &" &) ; (env -i setsid sleep ${marker}4 &) ; sleep 0.3; echo started`;
      expect((await run(sandbox, script)).stdout).toBe('started\n');
      const left = await run(sandbox, 'cat /proc/[0-9]*/cmdline | tr "\\0" " "');
      expect(left.stdout).toContain('cat');
      expect(left.stdout).not.toContain(`sleep ${marker}`);
    });

    it("leaves a running command's orphans alone when another command ends", async () => {
      const marker = `4343${process.pid % 1000}`;
      const list = 'cat /proc/[0-9]*/cmdline | tr "\\0" " "';
      const long = run(sandbox, `(setsid sleep ${marker} > /dev/null 2>&1 &); sleep 2; ${list}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await run(sandbox, 'true')).exitCode).toBe(0);
      expect((await long).stdout).toContain(`sleep ${marker}`);
      // Its own end takes them.
      expect((await run(sandbox, list)).stdout).not.toContain(`sleep ${marker}`);
    });

    it('says so when the workspace is full, and the next command works', async () => {
      const filler = await run(sandbox, 'dd if=/dev/zero of=/workspace/fill bs=1048576 count=1000');
      expect(filler.exitCode).not.toBe(0);
      expect(filler.stderr).toMatch(/no space left/i);
      expect(filler.limit).toBe('disk');
      expect((await run(sandbox, 'rm /workspace/fill && echo freed')).stdout).toBe('freed\n');
      // A plain failure with room left names no limit.
      expect((await run(sandbox, 'exit 3')).limit).toBeUndefined();
    });

    it('names the memory limit when the OOM killer ended a command, and the next command works', async () => {
      const hog = await run(sandbox, 'x=a; while true; do x="$x$x"; done');
      expect(hog.exitCode).toBe(137);
      expect(hog.limit).toBe('memory');
      expect((await run(sandbox, 'echo alive')).stdout).toBe('alive\n');
      // The kill is counted once: a later failure is not blamed on it.
      expect((await run(sandbox, 'exit 3')).limit).toBeUndefined();
    });

    it('refuses paths outside the workspace', async () => {
      await expect(sandbox.writeFile('../etc/passwd', 'x')).rejects.toThrow(/outside the sandbox workspace/);
      await expect(sandbox.readFile('/etc/passwd')).rejects.toThrow(/outside the sandbox workspace/);
    });
  });

  it('keeps its tmpfs below the memory limit, so that filling them leaves the sandbox working', async () => {
    // A workspace as large as asked would be memory the OOM killer cannot reclaim: every later command
    // would be killed. Half the memory for the workspace, an eighth each for /tmp and $HOME.
    const small = await create({ limits: { memoryBytes: 128 * MB, diskBytes: 1024 * MB } });
    const df = await run(small, 'df -P /workspace /tmp "$HOME" | tail -n +2');
    expect(
      df.stdout
        .trim()
        .split('\n')
        .map((line) => Number(line.split(/\s+/)[1])),
    ).toEqual([(64 * MB) / 1024, (16 * MB) / 1024, (16 * MB) / 1024]);
    for (const target of ['/workspace/fill', '/tmp/fill', '"$HOME/fill"']) {
      const filler = await run(small, `cat /dev/zero > ${target}`);
      expect(filler.limit).toBe('disk');
    }
    expect((await run(small, 'echo alive')).stdout).toBe('alive\n');
    const hog = await run(small, 'x=a; while true; do x="$x$x"; done');
    expect(hog.limit).toBe('memory');
    expect((await run(small, 'echo alive')).stdout).toBe('alive\n');
  });

  it('recovers from a command that holds every pid until its timeout', async () => {
    const full = await create({ limits: { pids: 32 } });
    // The subshell forks sleepers until it cannot, then dies, and `sleep 30` takes its pid: the limit is
    // reached and stays reached, so no exec, not even the reaper, can start until something is killed.
    const hold = await full.exec(['sh', '-c', '(while true; do sleep 1000 & done) 2> /dev/null; sleep 30'], {
      timeoutMs: 1000,
    });
    expect(hold.timedOut).toBe(true);
    // Every later command runs, and the holders are gone: the init, the main process and this command.
    for (let attempt = 0; attempt < 3; attempt++) {
      const next = await run(full, 'echo alive; ls -d /proc/[0-9]* | wc -l');
      expect(next.stdout.split('\n')[0]).toBe('alive');
      expect(Number(next.stdout.split('\n')[1])).toBeLessThan(10);
    }
  });

  it('mounts read-only host paths at the same path', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cif-docker-ro-'));
    writeFileSync(path.join(dir, 'hello.txt'), 'from the host\n');
    // mkdtemp makes it 0700 for this process's user; the sandbox runs as uid 1000.
    chmodSync(dir, 0o755);
    const sandbox = await create({ readOnlyHostPaths: [dir] });
    expect((await run(sandbox, `cat ${dir}/hello.txt`)).stdout).toBe('from the host\n');
    const write = await run(sandbox, `touch ${dir}/new`);
    expect(write.exitCode).not.toBe(0);
    expect(write.stderr).toMatch(/read-only/i);
  });

  it('ends a sandbox by itself after maxLifetimeSeconds', async () => {
    const sandbox = await create({ maxLifetimeSeconds: 2 });
    expect((await driver.list({ [LABELS.owner]: owner })).map((info) => info.id)).toContain(sandbox.id);
    // Polled with a generous deadline: this checks that it ends, not how fast.
    const deadline = Date.now() + 30_000;
    let listed = true;
    while (listed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      listed = (await driver.list({ [LABELS.owner]: owner })).some((info) => info.id === sandbox.id);
    }
    expect(listed).toBe(false);
    await expect(sandbox.exec(['true'])).rejects.toThrow(/gone or stopped/);
  });
});

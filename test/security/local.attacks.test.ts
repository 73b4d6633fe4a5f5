/**
 * Hostile repository code against the local driver under bubblewrap, as the worker configures it: each
 * case is an attack a repository's own command (install script, test, formatter) can make. Services of the
 * platform are stand-ins listening on host loopback; every address a test aims at outside loopback is
 * refused by the egress proxy before any connection is made, or has no route inside the sandbox's own
 * network namespace (loopback only), so no packet leaves for it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@ci-fixer/config';
import { LABELS, MANAGED_BY, type Sandbox, type SandboxSpec } from '@ci-fixer/sandbox';
import { LocalDriver } from '@ci-fixer/sandbox/local';
import { AttackTable } from './attack-table.ts';

const table = new AttackTable('local');
// After every describe of this file, so that the fail-closed cases are in the table too.
afterAll(() => table.flush());
const SECRET = `worker-secret-${process.pid}`;

/** A TCP service on host loopback that counts the connections it gets. */
async function loopbackService(): Promise<{
  port: number;
  connections: () => number;
  close(): Promise<void>;
}> {
  let count = 0;
  const server = net.createServer((socket) => {
    count++;
    socket.end('+PONG\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => count,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('hostile repository code on the local driver (bubblewrap)', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'cif-attacks-'));
  const driver = new LocalDriver({
    root,
    isolation: 'bwrap',
    limits: { pids: 64, memoryBytes: 128 * 1_048_576, diskBytes: 16 * 1_048_576 },
  });
  const services: Record<string, Awaited<ReturnType<typeof loopbackService>>> = {};
  let gitHost: http.Server;
  let gitPort: number;
  let sandbox: Sandbox;
  let neighbour: Sandbox;

  const create = (spec: Partial<SandboxSpec> = {}) =>
    driver.create({
      labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: 'attacks' },
      // What the worker grants: the job's git host (here a stand-in on loopback, allowed by address as an
      // operator would allow a mirror) and nothing else.
      egress: [`127.0.0.1:${gitPort}`],
      ...spec,
    });
  const sh = (script: string, timeoutMs = 20_000) => sandbox.exec(['bash', '-c', script], { timeoutMs });

  beforeAll(async () => {
    process.env.CI_FIXER_TEST_SECRET = SECRET;
    for (const name of ['redis', 'api', 'metrics']) services[name] = await loopbackService();
    gitHost = http.createServer((_req, res) => res.end('git host stand-in\n'));
    await new Promise<void>((resolve) => gitHost.listen(0, '127.0.0.1', resolve));
    gitPort = (gitHost.address() as net.AddressInfo).port;
    await driver.preflight();
    sandbox = await create();
    neighbour = await create();
    await neighbour.writeFile('tenant-b.txt', 'the other tenant’s code');
  });

  afterAll(async () => {
    delete process.env.CI_FIXER_TEST_SECRET;
    await sandbox?.destroy();
    await neighbour?.destroy();
    await driver.close();
    for (const service of Object.values(services)) await service.close();
    await new Promise((resolve) => gitHost?.close(resolve));
  });

  it.each(['redis', 'api', 'metrics'])(
    'cannot open a TCP connection to the platform %s on host loopback',
    async (name) => {
      const port = services[name]!.port;
      const direct = await sh(`exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected`);
      const viaProxy = await sh(
        `curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -p -x "$HTTPS_PROXY" telnet://127.0.0.1:${port} || true`,
      );
      expect(direct.stdout).not.toContain('connected');
      expect(viaProxy.stdout).not.toBe('200');
      expect(services[name]!.connections()).toBe(0);
      table.record(
        `connect to ${name} on host loopback`,
        services[name]!.connections() === 0 ? 'blocked' : 'allowed',
      );
    },
  );

  it('reaches the allowed git host through its proxy', async () => {
    const result = await sh(`curl -sS --max-time 10 http://127.0.0.1:${gitPort}/`);
    expect(result.stdout).toBe('git host stand-in\n');
    table.record('reach the allowed git host', result.exitCode === 0 ? 'allowed' : 'blocked');
  });

  it('has no route anywhere: only loopback exists in its network namespace', async () => {
    const routes = await sh('tail -n +2 /proc/net/route; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "');
    expect(routes.stdout.trim()).toBe('lo');
    // Nothing to send it through: the kernel refuses the connection at once, inside the namespace.
    const direct = await sh('exec 3<>/dev/tcp/169.254.169.254/80 && echo connected');
    expect(direct.stdout).not.toContain('connected');
    expect(direct.stderr).toMatch(/unreachable/i);
    table.record('connect directly to the metadata address', 'blocked');
  });

  it.each([
    ['the metadata address', 'http://169.254.169.254/latest/meta-data/'],
    ['a private address', 'http://10.0.0.1/'],
    ['a cluster service address', 'https://10.96.0.1/'],
    ['a host that is not allowed', 'https://example.invalid/'],
  ])('is refused %s by the egress proxy, which never connects', async (what, url) => {
    const result = await sh(`curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "${url}" || true`);
    // 403 from the proxy for plain HTTP; for CONNECT curl reports the proxy's refusal and no code.
    expect(result.stdout).not.toBe('200');
    const verbose = await sh(`curl -sv --max-time 5 "${url}" 2>&1 || true`);
    expect(verbose.stdout).toMatch(/403|ci-fixer egress/);
    table.record(`reach ${what} through the proxy`, 'blocked');
  });

  it('cannot reach an allowed name that resolves to loopback (DNS rebinding)', async () => {
    const rebinding = await create({ egress: [`localhost:${services.redis!.port}`] });
    try {
      const result = await rebinding.exec(
        [
          'bash',
          '-c',
          `curl -sv --max-time 5 -p -x "$HTTPS_PROXY" telnet://localhost:${services.redis!.port} 2>&1 || true`,
        ],
        { timeoutMs: 20_000 },
      );
      // curl shows the proxy's status for a refused tunnel, not its body (which names the reason).
      expect(result.stdout).toMatch(/CONNECT tunnel failed, response 403/);
      expect(services.redis!.connections()).toBe(0);
      table.record('reach loopback through an allowed name', 'blocked');
    } finally {
      await rebinding.destroy();
    }
  });

  it("finds no secret in any process's environment or command line, nor the worker's credentials", async () => {
    const result = await sh(
      'cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr "\\0" "\\n"; ls -a ~/.kube ~/.ssh 2>&1; id -u',
    );
    expect(result.stdout).not.toContain(SECRET);
    expect(result.stdout).not.toContain('CI_FIXER_TEST_SECRET');
    // The worker's own processes are not even visible: the sandbox has its own pid namespace.
    const pids = await sh('ls /proc | grep -E "^[0-9]+$" | wc -l');
    expect(Number(pids.stdout.trim())).toBeLessThan(10);
    table.record("read the worker's environment", 'blocked');
  });

  it("cannot see another tenant's sandbox", async () => {
    const listing = await sh(`ls -a ${root}`);
    expect(listing.stdout).toContain(sandbox.id);
    expect(listing.stdout).not.toContain(neighbour.id);
    const read = await sh(`cat ${path.join(neighbour.workdir, 'tenant-b.txt')}`);
    expect(read.exitCode).not.toBe(0);
    expect(read.stdout).not.toContain('other tenant');
    table.record("read another tenant's workspace", 'blocked');
  });

  it('ends a fork bomb at its pids limit and timeout, and the sandbox still works', async () => {
    const bomb = await sh('bomb() { bomb | bomb & }; bomb; sleep 30', 5_000);
    expect(bomb.timedOut).toBe(true);
    expect((await sh('echo alive')).stdout).toBe('alive\n');
    table.record('fork bomb', 'blocked');
  });

  it('ends a memory hog with the memory limit named', async () => {
    const hog = await sandbox.exec(
      [process.execPath, '-e', 'const keep = []; for (;;) keep.push(Buffer.alloc(16 * 1048576, 1));'],
      { timeoutMs: 60_000 },
    );
    expect(hog.exitCode).toBe(137);
    expect(hog.limit).toBe('memory');
    table.record('memory hog', 'blocked');
  });

  it('stops a disk filler at the file-size limit', async () => {
    const filler = await sh('head -c 64000000 /dev/zero > big.bin; echo "exit $?"');
    expect(filler.stdout).toMatch(/exit (153|1)/);
    expect((await sh('stat -c %s big.bin')).stdout.trim()).toBe(String(16 * 1_048_576));
    await sh('rm -f big.bin');
    table.record('disk filler', 'blocked');
  });

  it('leaves no process running after a command, even one that left its session', async () => {
    const marker = `31337${process.pid % 1000}`;
    await sh(`setsid sleep ${marker} > /dev/null 2>&1 < /dev/null & disown; echo started`);
    const left = spawnSync('pgrep', ['-f', `sleep ${marker}`], { encoding: 'utf8' });
    expect(left.stdout.trim()).toBe('');
    table.record(
      'setsid background process outlives the sandbox',
      left.stdout.trim() ? 'allowed' : 'blocked',
    );
  });
});

describe('failing closed', () => {
  it('refuses to start when bubblewrap cannot run, and names the way out', async () => {
    const script = `
      import { LocalDriver } from ${JSON.stringify(path.resolve(import.meta.dirname, '../../packages/sandbox/src/local/index.ts'))};
      await new LocalDriver({ root: ${JSON.stringify(mkdtempSync(path.join(os.tmpdir(), 'cif-closed-')))} }).preflight();
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { PATH: '/nonexistent' },
    });
    expect(child.status).not.toBe(0);
    expect(child.stderr).toMatch(/bubblewrap cannot start a sandbox here/);
    expect(child.stderr).toMatch(/SANDBOX_ISOLATION=none/);
    table.record('run without bubblewrap', 'blocked');
  });

  it('starts plain processes only when asked by name, with a warning, and never in production', async () => {
    const driver = new LocalDriver({
      root: mkdtempSync(path.join(os.tmpdir(), 'cif-none-')),
      isolation: 'none',
    });
    const report = await driver.preflight();
    expect(report.warnings.join('\n')).toMatch(/SANDBOX_ISOLATION=none/);
    await driver.close();
    expect(() =>
      loadConfig({ NODE_ENV: 'production', CI_FIXER_API_TOKEN: 'x'.repeat(32), SANDBOX_ISOLATION: 'none' }),
    ).toThrow(/refused when NODE_ENV=production/);
  });

  it('reports the isolation in force', async () => {
    const driver = new LocalDriver({ root: mkdtempSync(path.join(os.tmpdir(), 'cif-report-')) });
    const report = await driver.preflight();
    expect(report.isolation).toMatch(/bubblewrap/);
    expect(report.isolation).toMatch(/cgroups|rlimits/);
    await driver.close();
  });
});

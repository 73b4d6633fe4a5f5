/**
 * Hostile repository code against the docker driver, as the worker configures it: each case is an attack a
 * repository's own command can make. Platform services are stand-ins on host loopback, which a container
 * with network `none` cannot even see (its loopback is its own); its only way out is the driver's egress
 * proxy, reached through the socat relay on 127.0.0.1:3128. Every address aimed at outside loopback is
 * refused by the proxy before any connection is made, or has no route in the container's namespace.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS, MANAGED_BY, type Sandbox, type SandboxSpec } from '@ci-fixer/sandbox';
import { type DockerDriver } from '@ci-fixer/sandbox/docker';
import { dockerTarget, EGRESS_IMAGE } from '../../packages/sandbox/test/docker-target.ts';
import { AttackTable } from './attack-table.ts';

const table = new AttackTable('docker');
const SECRET = `worker-secret-${process.pid}`;

/**
 * Asks the proxy from inside the sandbox, with the credentials of its HTTPS_PROXY: `connect host:port`
 * (a CONNECT tunnel; prints the status, then what the target sent) or `get url` (plain HTTP; prints the
 * status and body).
 */
const PROBE = `
import http from 'node:http';
const [mode, target] = process.argv.slice(2);
const proxy = new URL(process.env.HTTPS_PROXY);
const auth = 'Basic ' + Buffer.from(decodeURIComponent(proxy.username) + ':' + decodeURIComponent(proxy.password)).toString('base64');
// An agent of its own: the global one follows NODE_USE_ENV_PROXY and would proxy this request to the proxy.
const req = http.request({ agent: new http.Agent(), host: proxy.hostname, port: proxy.port, method: mode === 'connect' ? 'CONNECT' : 'GET',
  path: target, headers: { 'proxy-authorization': auth, host: mode === 'connect' ? target : new URL(target).host } });
req.setTimeout(5000, () => { console.log('timeout'); process.exit(0); });
req.on('connect', (res, socket) => {
  console.log('status ' + res.statusCode);
  if (res.statusCode !== 200) process.exit(0);
  socket.on('data', (d) => process.stdout.write(d));
  socket.on('end', () => process.exit(0));
  socket.setTimeout(3000, () => process.exit(0));
});
req.on('response', (res) => {
  let body = '';
  res.on('data', (d) => (body += d));
  res.on('end', () => { console.log('status ' + res.statusCode); process.stdout.write(body); });
});
req.on('error', (e) => console.log('error ' + e.message));
req.end();
`;

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

describe('hostile repository code on the docker driver', () => {
  let driver: DockerDriver;
  const services: Record<string, Awaited<ReturnType<typeof loopbackService>>> = {};
  let gitHost: http.Server;
  let gitPort: number;
  let sandbox: Sandbox;
  let neighbour: Sandbox;

  const create = (spec: Partial<SandboxSpec> = {}) =>
    driver.create({
      labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: `attacks-${process.pid}` },
      // What the worker grants: the job's git host (a stand-in on loopback, allowed by address as an
      // operator would allow a mirror) and nothing else.
      egress: [`127.0.0.1:${gitPort}`],
      ...spec,
    });
  const sh = (script: string, timeoutMs = 20_000, target = sandbox) =>
    target.exec(['bash', '-c', script], { timeoutMs });
  const probe = (mode: 'connect' | 'get', target: string, on = sandbox) =>
    on.exec(['node', '/workspace/probe.mjs', mode, target], { timeoutMs: 20_000 });

  beforeAll(async () => {
    process.env.CI_FIXER_TEST_SECRET = SECRET;
    for (const name of ['redis', 'api', 'metrics']) services[name] = await loopbackService();
    gitHost = http.createServer((_req, res) => res.end('git host stand-in\n'));
    await new Promise<void>((resolve) => gitHost.listen(0, '127.0.0.1', resolve));
    gitPort = (gitHost.address() as net.AddressInfo).port;
    ({ driver } = await dockerTarget({
      image: EGRESS_IMAGE,
      egressDir: mkdtempSync(path.join(os.tmpdir(), 'cif-docker-egress-')),
      limits: { pids: 64, memoryBytes: 128 * 1_048_576, cpus: 1, diskBytes: 32 * 1_048_576 },
    }));
    sandbox = await create();
    neighbour = await create();
    await sandbox.writeFile('probe.mjs', PROBE);
    await neighbour.writeFile('tenant-b.txt', 'the other tenant’s code');
  });

  afterAll(async () => {
    delete process.env.CI_FIXER_TEST_SECRET;
    await sandbox?.destroy();
    await neighbour?.destroy();
    await driver?.close();
    for (const service of Object.values(services)) await service.close();
    await new Promise((resolve) => gitHost?.close(resolve));
    table.flush();
  });

  it.each(['redis', 'api', 'metrics'])(
    'cannot open a TCP connection to the platform %s on host loopback',
    async (name) => {
      const port = services[name]!.port;
      // Its own loopback: nothing of the host's is there.
      const direct = await sh(`exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected`);
      const viaProxy = await probe('connect', `127.0.0.1:${port}`);
      expect(direct.stdout).not.toContain('connected');
      expect(viaProxy.stdout).toMatch(/^status 403/);
      expect(viaProxy.stdout).not.toContain('PONG');
      expect(services[name]!.connections()).toBe(0);
      table.record(
        `connect to ${name} on host loopback`,
        services[name]!.connections() === 0 ? 'blocked' : 'allowed',
      );
    },
  );

  it('reaches the allowed git host through its proxy', async () => {
    const tunnel = await probe('connect', `127.0.0.1:${gitPort}`);
    expect(tunnel.stdout).toMatch(/^status 200/);
    const plain = await probe('get', `http://127.0.0.1:${gitPort}/`);
    expect(plain.stdout).toBe('status 200\ngit host stand-in\n');
    // And a real client, through the proxy variables alone.
    const fetched = await sandbox.exec(
      [
        'node',
        '-e',
        `fetch('http://127.0.0.1:${gitPort}/').then((r) => r.text()).then((t) => process.stdout.write(t))`,
      ],
      { timeoutMs: 20_000 },
    );
    expect(fetched.stdout).toBe('git host stand-in\n');
    table.record('reach the allowed git host', fetched.exitCode === 0 ? 'allowed' : 'blocked');
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
    ['the metadata address', 'get', 'http://169.254.169.254/latest/meta-data/'],
    ['a private address', 'get', 'http://10.0.0.1/'],
    ['a cluster service address', 'connect', '10.96.0.1:443'],
    ['a host that is not allowed', 'connect', 'example.invalid:443'],
  ] as const)('is refused %s by the egress proxy, which never connects', async (what, mode, target) => {
    const result = await probe(mode, target);
    expect(result.stdout + result.stderr).toMatch(/^status 403/);
    table.record(`reach ${what} through the proxy`, 'blocked');
  });

  it('cannot reach an allowed name that resolves to loopback (DNS rebinding)', async () => {
    const rebinding = await create({ egress: [`localhost:${services.redis!.port}`] });
    try {
      await rebinding.writeFile('probe.mjs', PROBE);
      const result = await probe('connect', `localhost:${services.redis!.port}`, rebinding);
      expect(result.stdout).toMatch(/^status 403/);
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
    // The worker's own processes are not even visible: the container has its own pid namespace.
    const pids = await sh('ls /proc | grep -E "^[0-9]+$" | wc -l');
    expect(Number(pids.stdout.trim())).toBeLessThan(10);
    table.record("read the worker's environment", 'blocked');
  });

  it("cannot see another tenant's sandbox", async () => {
    const found = await sh(
      'find / -xdev -name "tenant-*" 2>/dev/null; ls /proc | grep -E "^[0-9]+$" | wc -l',
    );
    expect(found.stdout).not.toContain('tenant-b.txt');
    expect(found.stdout).not.toContain(neighbour.id);
    // And none of its processes: only this container's own are in its pid namespace.
    expect(Number(found.stdout.trim().split('\n').pop())).toBeLessThan(10);
    table.record("read another tenant's workspace", 'blocked');
  });

  it.each([
    ['fork bomb', 'bomb() { bomb | bomb & }; bomb; sleep 30'],
    // Never lets go: every process keeps forking, so the sandbox stays at its limit until killed.
    ['fork bomb holding the pids limit', 'perl -e "fork while 1"'],
  ])('ends a %s at its pids limit and timeout, and the sandbox still works', async (attack, script) => {
    const bombed = await create();
    try {
      const bomb = await sh(script, 5_000, bombed);
      expect(bomb.timedOut).toBe(true);
      const after = await sh('echo alive; ls /proc | grep -cE "^[0-9]+$"', 20_000, bombed);
      expect(after.stdout.split('\n')[0]).toBe('alive');
      // Nothing of the bomb is left: the init, the main process and this command's few.
      expect(Number(after.stdout.split('\n')[1])).toBeLessThan(10);
      table.record(attack, after.exitCode === 0 ? 'blocked' : 'allowed');
    } finally {
      await bombed.destroy();
    }
    // The limit is the container's: the other sandboxes never noticed.
    expect((await sh('echo alive')).stdout).toBe('alive\n');
    expect((await sh('echo alive', 20_000, neighbour)).stdout).toBe('alive\n');
  });

  it('ends a memory hog with the memory limit named, and the sandbox still works', async () => {
    const hog = await sandbox.exec(
      ['node', '-e', 'const keep = []; for (;;) keep.push(Buffer.alloc(16 * 1048576, 1));'],
      { timeoutMs: 60_000 },
    );
    expect(hog.exitCode).toBe(137);
    expect(hog.limit).toBe('memory');
    expect((await sh('echo alive')).stdout).toBe('alive\n');
    table.record('memory hog', hog.limit === 'memory' ? 'blocked' : 'allowed');
  });

  it('stops a disk filler at the workspace limit with the limit named, and the sandbox still works', async () => {
    const filler = await sh('head -c 1000000000 /dev/zero > big.bin; echo "exit $?" >&2; exit 1');
    expect(filler.stderr).toMatch(/no space left on device/i);
    expect(filler.limit).toBe('disk');
    // Never more than the workspace's size was written (df -P counts 1024-byte blocks).
    const size = await sh('stat -c %s big.bin; df -P /workspace | tail -n 1');
    expect(Number(size.stdout.split('\n')[0])).toBeLessThanOrEqual(32 * 1_048_576);
    expect((await sh('rm big.bin && echo freed')).stdout).toBe('freed\n');
    expect((await sh('echo alive', 20_000, neighbour)).stdout).toBe('alive\n');
    table.record('disk filler', filler.limit === 'disk' ? 'blocked' : 'allowed');
  });

  it('leaves no process running after a command, even one that left its session and cleared its environment', async () => {
    const marker = `31338${process.pid % 1000}`;
    const started = await sh(
      `sleep ${marker}1 & setsid sleep ${marker}2 > /dev/null 2>&1 < /dev/null & disown; ` +
        // Double-forked, in a session of its own, with the environment (and its marker) cleared.
        `(env -i setsid sleep ${marker}3 > /dev/null 2>&1 < /dev/null &); echo started`,
    );
    expect(started.stdout).toBe('started\n');
    const left = spawnSync('pgrep', ['-f', `sleep ${marker}`], { encoding: 'utf8' });
    expect(left.stdout.trim()).toBe('');
    table.record('background process outlives its command', left.stdout.trim() ? 'allowed' : 'blocked');
  });

  it('leaves no process running after destroy, even one that left its session', async () => {
    const victim = await create();
    const marker = `31337${process.pid % 1000}`;
    await sh(`setsid sleep ${marker} > /dev/null 2>&1 < /dev/null & disown; echo started`, 20_000, victim);
    await victim.destroy();
    const left = spawnSync('pgrep', ['-f', `sleep ${marker}`], { encoding: 'utf8' });
    expect(left.stdout.trim()).toBe('');
    table.record(
      'setsid background process outlives the sandbox',
      left.stdout.trim() ? 'allowed' : 'blocked',
    );
  });
});

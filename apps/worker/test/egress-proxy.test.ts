/**
 * The kubernetes egress proxy as the chart runs it (apps/worker/src/egress-proxy.ts, its own process),
 * with credentials made by the kubernetes driver's own code: a sandbox reaches what its signed list allows
 * and nothing else, and a credential it alters, one signed with another key, or one that has expired gets
 * nothing. Every listener is on loopback; the proxy connects only to loopback stand-ins, which address rules
 * name (a loopback address is otherwise refused like any internal one, a case below).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  signEgressCredential,
  verifyEgressCredential,
} from '../../../packages/sandbox/src/egress/credential.ts';
import { sandboxProxyEnvironment } from '../../../packages/sandbox/src/kubernetes/egress.ts';

const KEY = 'k'.repeat(40);
const ENTRY = path.resolve(import.meta.dirname, '../src/egress-proxy.ts');

async function standIn(name: string) {
  let count = 0;
  const server = net.createServer((socket) => {
    count++;
    socket.end(`${name}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    target: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A free loopback port, for the proxy to listen on. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** CONNECT through the proxy as `user:password`; the proxy's status line, then what the target said. */
async function connectVia(proxyPort: number, credentials: string | undefined, target: string) {
  const socket = net.connect({ host: '127.0.0.1', port: proxyPort });
  const auth = credentials
    ? `Proxy-Authorization: Basic ${Buffer.from(credentials).toString('base64')}\r\n`
    : '';
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
  let data = '';
  socket.on('data', (chunk) => (data += String(chunk)));
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
    socket.setTimeout(5000, () => socket.destroy());
  });
  return { status: data.split('\r\n')[0] ?? '', body: data.split('\r\n\r\n').slice(1).join('\r\n\r\n') };
}

/** user:password from a proxy URL as proxyEnvironment writes it. */
function credentialsOf(env: Record<string, string>): string {
  return decodeURIComponent(new URL(env.HTTPS_PROXY!).username) + ':' + new URL(env.HTTPS_PROXY!).password;
}

describe('signed egress credentials', () => {
  const claims = { sandbox: 'cif-a-1234abcd', allow: ['git.example.test:443'], expiresAt: 4_000_000_000 };

  it('verify for the key they were signed with, and only for their own sandbox', () => {
    const [user, password] = signEgressCredential(KEY, claims).split(/:(.*)/s) as [string, string];
    expect(verifyEgressCredential(KEY, user, password)).toEqual(claims);
    expect(verifyEgressCredential('x'.repeat(40), user, password)).toBeUndefined();
    expect(verifyEgressCredential(KEY, 'cif-b-00000000', password)).toBeUndefined();
  });

  it('refuse an allow-list the holder widened, and an expired credential', () => {
    const [user, password] = signEgressCredential(KEY, claims).split(/:(.*)/s) as [string, string];
    const [, sig] = password.split('.');
    const widened = Buffer.from(
      JSON.stringify({ ...claims, allow: ['*.example.test', '10.0.0.0/8'] }),
    ).toString('base64url');
    expect(verifyEgressCredential(KEY, user, `${widened}.${sig}`)).toBeUndefined();
    const expired = signEgressCredential(KEY, { ...claims, expiresAt: Math.floor(Date.now() / 1000) - 1 });
    const [eUser, ePassword] = expired.split(/:(.*)/s) as [string, string];
    expect(verifyEgressCredential(KEY, eUser, ePassword)).toBeUndefined();
  });
});

describe('the egress proxy process with driver-made credentials', () => {
  let proxy: ChildProcess;
  let port: number;
  let gitHost: Awaited<ReturnType<typeof standIn>>;
  let other: Awaited<ReturnType<typeof standIn>>;
  let env: Record<string, string>;
  const logs: string[] = [];

  beforeAll(async () => {
    gitHost = await standIn('git host');
    other = await standIn('not listed');
    port = await freePort();
    proxy = spawn(process.execPath, [ENTRY], {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        LOG_LEVEL: 'debug',
        EGRESS_PROXY_PORT: String(port),
        SANDBOX_EGRESS_PROXY_KEY: KEY,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proxy.stderr!.on('data', (chunk) => logs.push(String(chunk)));
    await new Promise<void>((resolve, reject) => {
      proxy.once('exit', (code) => reject(new Error(`the proxy exited (${code}): ${logs.join('')}`)));
      createInterface({ input: proxy.stdout! }).on('line', (line) => {
        logs.push(line);
        if (line.includes('egress proxy listening')) resolve();
      });
    });
    env = await sandboxProxyEnvironment(
      { address: `127.0.0.1:${port}`, key: KEY },
      'cif-fix-1-0badcafe',
      [gitHost.target],
      600,
    );
  });

  afterAll(async () => {
    proxy?.kill('SIGTERM');
    await Promise.all([gitHost?.close(), other?.close()]);
  });

  it('points every proxy variable at the proxy address, with the credential', () => {
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY'])
      expect(new URL(env[name]!).host).toBe(`127.0.0.1:${port}`);
    expect(env.NO_PROXY).toBe('');
  });

  it('tunnels to a host on the signed list', async () => {
    const answer = await connectVia(port, credentialsOf(env), gitHost.target);
    expect(answer.status).toBe('HTTP/1.1 200 Connection Established');
    expect(answer.body).toBe('git host\n');
    expect(gitHost.connections()).toBe(1);
  });

  it('lets git through, which sends the credential only after a 407 names its scheme', async () => {
    const before = gitHost.connections();
    // Not spawnSync: the stand-in lives in this process. It is no TLS server, so git fails after the
    // tunnel; what matters is that the proxy opened it.
    const git = await new Promise<{ stderr: string }>((resolve) => {
      execFile(
        'git',
        ['ls-remote', `https://${gitHost.target}/repo.git`],
        {
          timeout: 20_000,
          env: { PATH: process.env.PATH!, HOME: process.env.HOME!, GIT_TERMINAL_PROMPT: '0', ...env },
        },
        (_error, _stdout, stderr) => resolve({ stderr }),
      );
    });
    expect(git.stderr).not.toMatch(/407/);
    expect(gitHost.connections()).toBe(before + 1);
  });

  it('refuses a host that is not on it, without connecting', async () => {
    const answer = await connectVia(port, credentialsOf(env), other.target);
    expect(answer.status).toBe('HTTP/1.1 403 Forbidden');
    expect(other.connections()).toBe(0);
    expect(logs.join('\n')).toMatch(/egress refused.*cif-fix-1-0badcafe|cif-fix-1-0badcafe.*egress refused/);
  });

  it('refuses an internal address by name resolution even for a name on the list', async () => {
    const named = await sandboxProxyEnvironment(
      { address: `127.0.0.1:${port}`, key: KEY },
      'cif-fix-2-0badcafe',
      [`localhost:${other.target.split(':')[1]}`],
      600,
    );
    const answer = await connectVia(port, credentialsOf(named), `localhost:${other.target.split(':')[1]}`);
    expect(answer.status).toBe('HTTP/1.1 403 Forbidden');
    expect(answer.body).toContain('internal address');
    expect(other.connections()).toBe(0);
  });

  it('refuses a widened, foreign-key, or missing credential with 407', async () => {
    const [user, password] = credentialsOf(env).split(/:(.*)/s) as [string, string];
    const [payload, sig] = password.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { allow: string[] };
    const widened = Buffer.from(JSON.stringify({ ...claims, allow: [other.target] })).toString('base64url');
    const foreign = signEgressCredential('f'.repeat(40), {
      sandbox: user,
      allow: [other.target],
      expiresAt: 4_000_000_000,
    });
    for (const credentials of [`${user}:${widened}.${sig}`, foreign, undefined]) {
      const answer = await connectVia(port, credentials, other.target);
      expect(answer.status).toBe('HTTP/1.1 407 Proxy Authentication Required');
    }
    expect(other.connections()).toBe(0);
  });
});

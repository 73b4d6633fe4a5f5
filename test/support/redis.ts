/**
 * A private Redis for one test file (or one benchmark run). Tests never talk to a Redis they did not
 * start: on a developer's machine 127.0.0.1:6379 is their Redis, with their data in it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './processes.ts';

export interface TestRedis {
  /** `redis://127.0.0.1:<port>`: db 0 of a server nobody else uses. Hand it to child processes too. */
  url: string;
  port: number;
  /** Kills the server and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
  /**
   * An outage: the server stops answering (SIGSTOP) until resume(), keeping its connections open, as a
   * Redis that hangs or fails over does. Keys whose TTL passed meanwhile are gone once it resumes.
   */
  pause(): void;
  resume(): void;
  /**
   * A crash: SIGKILL, then (with `restart`) the same server on the same port and directory, which reloads
   * what its append-only file holds when it was started with `appendOnly`.
   */
  kill(): Promise<void>;
  restart(): Promise<void>;
}

export interface TestRedisOptions {
  /** Persist every write to an append-only file before answering it (`appendfsync always`). */
  appendOnly?: boolean;
}

const READY = 'Ready to accept connections';
const START_TIMEOUT_MS = 10_000;
/** Another process may take the free port between our probe and redis-server's bind; then pick again. */
const PORT_ATTEMPTS = 5;

/**
 * Starts `redis-server` on a free loopback port with no persistence, in a temp dir of its own.
 * Stop it in afterAll; it is also killed when this process exits, and (where `setpriv` exists) when this
 * process dies without running exit handlers, so a crashed test run leaves no server behind.
 */
export async function startTestRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const binary = findOnPath('redis-server');
  if (!binary) throw new Error('redis-server not found on PATH: apt-get install redis-server');
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    try {
      return await startOn(binary, await freePort(), options);
    } catch (error) {
      lastError = error as Error;
      if (!/Address already in use/i.test(lastError.message)) throw lastError;
    }
  }
  throw lastError!;
}

async function startOn(binary: string, port: number, options: TestRedisOptions): Promise<TestRedis> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cif-test-redis-'));
  const persistence = options.appendOnly
    ? ['--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];
  const args = [
    ...['--bind', '127.0.0.1', '--port', String(port), '--protected-mode', 'yes'],
    ...['--save', '', ...persistence, '--dir', dir, '--daemonize', 'no', '--logfile', ''],
  ];
  const setpriv = findOnPath('setpriv');
  const launch = () => {
    const child = setpriv
      ? spawn(setpriv, ['--pdeathsig', 'KILL', binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { child, exited };
  };
  let server = launch();
  const alive = () => server.child.exitCode === null && server.child.signalCode === null;
  const killOnExit = () => {
    server.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    if (alive()) {
      server.child.kill('SIGCONT');
      server.child.kill('SIGTERM');
      const timer = setTimeout(() => server.child.kill('SIGKILL'), 5_000);
      await server.exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await ready(server.child);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    pause: () => server.child.kill('SIGSTOP'),
    resume: () => server.child.kill('SIGCONT'),
    async kill() {
      server.child.kill('SIGKILL');
      await server.exited;
    },
    async restart() {
      if (alive()) throw new Error('redis-server is still running; kill() it first');
      server = launch();
      await ready(server.child);
    },
  };
}

/** Resolves once redis-server logs that it accepts connections; rejects with its log if it exits first. */
function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes(READY)) done();
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`redis-server exited (${signal ?? code}) before it was ready:\n${log.trim()}`));
    const onError = (error: Error) => done(new Error(`could not start redis-server: ${error.message}`));
    const timer = setTimeout(
      () => done(new Error(`redis-server not ready after ${START_TIMEOUT_MS} ms:\n${log.trim()}`)),
      START_TIMEOUT_MS,
    );
    function done(error?: Error) {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      // Keep draining its output so a chatty server never blocks on a full pipe.
      child.stdout!.resume();
      child.stderr!.resume();
      if (error) reject(error);
      else resolve();
    }
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

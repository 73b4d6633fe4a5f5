import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PermanentError } from '@ci-fixer/contract';
import type { ExecResult } from '@ci-fixer/sandbox';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fetchRefusal } from '../src/repo-access.ts';

// Real git fetching from a git host stand-in on loopback that answers each path with one status, so that
// what git prints for each answer is what is sorted.
let server: http.Server;
let base: string;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    const status = Number(/^\/(\d{3})\//.exec(req.url ?? '')?.[1] ?? 404);
    res.writeHead(status, status === 401 ? { 'www-authenticate': 'Basic realm="git"' } : {}).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

/** Asynchronous: the stand-in answers from this same event loop. */
async function gitFetch(url: string): Promise<ExecResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cif-repo-access-'));
  spawnSync('git', ['init', '-q', dir]);
  const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      'git',
      ['fetch', '-q', '--depth', '1', '--', url, 'HEAD'],
      { cwd: dir, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', SSH_ASKPASS: '' } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 128) : 0, stdout, stderr }),
    );
  });
  return {
    exitCode: run.code,
    stdout: run.stdout,
    stderr: run.stderr,
    stdoutTruncated: false,
    stderrTruncated: false,
    timedOut: false,
    aborted: false,
    durationMs: 0,
  };
}

it.each([
  ['a host answering 404', () => `${base}/404/acme/app.git`, 'repository-not-found'],
  [
    'a local path that is not there',
    () => path.join(os.tmpdir(), 'cif-no-such-repo'),
    'repository-not-found',
  ],
  ['a host asking for credentials (401)', () => `${base}/401/acme/app.git`, 'auth-refused'],
  ['a host refusing them (403)', () => `${base}/403/acme/app.git`, 'auth-refused'],
])('%s is the user’s to fix: permanent', async (_, url, kind) => {
  const refusal = fetchRefusal(url(), await gitFetch(url()));
  expect(refusal).toBeInstanceOf(PermanentError);
  expect(refusal).toMatchObject({ kind, context: { repository: url() } });
  // What git said, for the user to read.
  expect(refusal!.message).toMatch(/git: fatal: \S/);
});

it.each([
  ['a host answering 500', () => `${base}/500/acme/app.git`],
  ['a host answering 503', () => `${base}/503/acme/app.git`],
  ['a host that does not answer', () => 'http://127.0.0.1:1/acme/app.git'],
])('%s is the platform’s: not sorted as permanent', async (_, url) => {
  const fetched = await gitFetch(url());
  expect(fetched.exitCode).not.toBe(0);
  expect(fetchRefusal(url(), fetched)).toBeUndefined();
});

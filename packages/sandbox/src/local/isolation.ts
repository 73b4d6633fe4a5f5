import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type LocalIsolation = 'bwrap' | 'none';

/**
 * Whether bubblewrap works here. Installed is not enough: user namespaces may be disabled, so a trial
 * sandbox must start.
 */
export function bwrapWorks(): boolean {
  const probe = spawnSync(
    'bwrap',
    ['--ro-bind', '/', '/', '--unshare-all', '--die-with-parent', '--', 'true'],
    {
      stdio: 'ignore',
      timeout: 5000,
    },
  );
  return probe.status === 0;
}

export function resolveIsolation(mode: 'auto' | LocalIsolation): LocalIsolation {
  if (mode === 'none') return 'none';
  if (bwrapWorks()) return 'bwrap';
  if (mode === 'bwrap') {
    throw new Error(
      'SANDBOX_LOCAL_ISOLATION=bwrap but bubblewrap cannot start a sandbox here; install it ' +
        '(apt-get install bubblewrap) and make sure unprivileged user namespaces are enabled, ' +
        'or set SANDBOX_LOCAL_ISOLATION=none to run plain processes',
    );
  }
  return 'none';
}

// Credentials a developer or a worker host commonly keeps; bubblewrap hides each one that exists.
const CREDENTIAL_PATHS = [
  '.ssh',
  '.gnupg',
  '.aws',
  '.azure',
  '.kube',
  '.docker',
  '.config/gcloud',
  '.config/gh',
  '.config/glab-cli',
  '.npmrc',
  '.yarnrc',
  '.yarnrc.yml',
  '.pypirc',
  '.netrc',
  '.git-credentials',
  '.gitconfig',
  '.config/git',
];
const SYSTEM_SECRET_PATHS = ['/run/secrets', '/var/run/secrets', '/etc/ci-fixer'];

export interface BwrapLayout {
  /** Read-write paths, bound at the same path inside the sandbox. */
  writable: string[];
  readOnly: string[];
  cwd: string;
  env: Record<string, string>;
  network: boolean;
}

/**
 * bubblewrap arguments for one command: the host read-only, a private /tmp, the sandbox's own directories
 * writable at the same paths, no capabilities, an unprivileged uid, and no view of credentials.
 */
export function bwrapArgs(layout: BwrapLayout, argv: readonly string[]): string[] {
  const args = [
    '--die-with-parent',
    '--new-session',
    '--unshare-all',
    ...(layout.network ? ['--share-net'] : []),
    '--uid',
    '1000',
    '--gid',
    '1000',
    '--cap-drop',
    'ALL',
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--tmpfs',
    '/tmp',
  ];
  for (const secret of credentialPaths()) {
    args.push(...(isDirectory(secret) ? ['--tmpfs', secret] : ['--ro-bind', '/dev/null', secret]));
  }
  // -try: a path that does not exist is simply absent inside, and the command reports it in its own words.
  for (const dir of layout.readOnly) args.push('--ro-bind-try', dir, dir);
  for (const dir of layout.writable) args.push('--bind', dir, dir);
  args.push('--chdir', layout.cwd, '--clearenv');
  for (const [key, value] of Object.entries(layout.env)) args.push('--setenv', key, value);
  args.push('--', ...argv);
  return args;
}

function credentialPaths(): string[] {
  const home = os.homedir();
  return [...CREDENTIAL_PATHS.map((relative) => path.join(home, relative)), ...SYSTEM_SECRET_PATHS].filter(
    (candidate) => existsSync(candidate),
  );
}

function isDirectory(candidate: string): boolean {
  return statSync(candidate).isDirectory();
}

import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EGRESS_RELAY_PORT } from '../egress/environment.ts';
import { SandboxError } from '../types.ts';

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

/**
 * Fails closed: bubblewrap is required unless plain processes were asked for by name, and with it the
 * relay that is a sandbox's only way to its egress proxy.
 */
export function checkIsolation(mode: LocalIsolation): void {
  if (mode === 'none') return;
  if (!bwrapWorks()) {
    throw new SandboxError(
      'bubblewrap cannot start a sandbox here; install it (apt-get install bubblewrap) and make sure ' +
        'user namespaces are enabled, or set SANDBOX_ISOLATION=none to run plain processes (development ' +
        'only: they can read this host and reach its network)',
    );
  }
  const socat = spawnSync('socat', ['-V'], { stdio: 'ignore', timeout: 5000 });
  if (socat.status !== 0) {
    throw new SandboxError(
      "socat is missing: it relays a sandbox's proxy traffic out of its network namespace; install it " +
        '(apt-get install socat)',
    );
  }
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
  /** Hidden behind an empty tmpfs (the sandbox root: other sandboxes live there). */
  hidden: string[];
  /** Read-write paths, bound at the same path inside the sandbox. */
  writable: string[];
  readOnly: string[];
  cwd: string;
  env: Record<string, string>;
  /** The egress proxy's socket, visible read-only inside; absent: the sandbox has no network at all. */
  egressSocket?: string;
}

/**
 * bubblewrap arguments for one command: the host read-only, a private /tmp, the sandbox's own directories
 * writable at the same paths, no capabilities, an unprivileged uid, and no view of credentials.
 */
export function bwrapArgs(layout: BwrapLayout, argv: readonly string[]): string[] {
  const args = [
    '--die-with-parent',
    '--new-session',
    // Every namespace, the network's included: a sandbox has loopback only, and its one way out is the
    // relay to the egress proxy's socket.
    '--unshare-all',
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
  for (const dir of layout.hidden) args.push('--tmpfs', dir);
  // -try: a path that does not exist is simply absent inside, and the command reports it in its own words.
  for (const dir of layout.readOnly) args.push('--ro-bind-try', dir, dir);
  for (const dir of layout.writable) args.push('--bind', dir, dir);
  if (layout.egressSocket) args.push('--ro-bind', layout.egressSocket, layout.egressSocket);
  args.push('--chdir', layout.cwd, '--clearenv');
  for (const [key, value] of Object.entries(layout.env)) args.push('--setenv', key, value);
  args.push('--', ...(layout.egressSocket ? withRelay(layout.egressSocket, argv) : argv));
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

const RELAY_PORT = EGRESS_RELAY_PORT;

/**
 * Starts socat inside the sandbox's network namespace, relaying 127.0.0.1:RELAY_PORT to the proxy's Unix
 * socket, and runs the command once the relay listens (its LISTEN entry shows in /proc/net/tcp, so the
 * command never races it). The relay dies with the namespace when the command ends.
 */
function withRelay(socket: string, argv: readonly string[]): string[] {
  const listening = `0100007F:${RELAY_PORT.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`;
  const script = [
    `socat TCP-LISTEN:${RELAY_PORT},bind=127.0.0.1,reuseaddr,fork "UNIX-CONNECT:$1" 2>/dev/null &`,
    'shift',
    'i=0',
    `until grep -q '${listening}' /proc/net/tcp; do`,
    '  i=$((i+1)); if [ "$i" -gt 500 ]; then echo "ci-fixer: the egress relay did not start" >&2; exit 125; fi',
    '  sleep 0.01',
    'done',
    'exec "$@"',
  ].join('\n');
  return ['sh', '-c', script, 'relay', socket, ...argv];
}

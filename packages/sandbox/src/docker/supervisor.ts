import type Docker from 'dockerode';
import { EGRESS_RELAY_PORT } from '../egress/environment.ts';
import { SandboxError, type ExecResult } from '../types.ts';
import { reason } from './engine.ts';
import { RESCUE_SIGNAL, runExec } from './exec.ts';

/** Where a sandbox finds the egress proxy's socket. */
export const SOCKET_IN_SANDBOX = '/run/ci-fixer/egress.sock';

/**
 * The container's main process, under the engine's init (which reaps orphans): it sleeps out the
 * sandbox's lifetime, then ends, and the container with it. With egress ($2, the proxy's socket inside),
 * socat relays 127.0.0.1:RELAY_PORT, in the container's own (network none) namespace, to that socket.
 *
 * On RESCUE_SIGNAL (forwarded by the init) it kills every other process of the sandbox with one kill(-1),
 * which spares only itself and the init and which a fork bomb cannot outrun, then restarts the relay:
 * the driver's last resort when the pids limit leaves no room for the exec that would end one command.
 * It forks nothing until the kill is done; a shell runs a trap only between commands, so the lifetime
 * sleep runs in the background and the shell waits in `wait`, which a signal interrupts.
 */
export const SUPERVISOR_SCRIPT = `
relay() { [ -z "$socket" ] || socat TCP-LISTEN:${EGRESS_RELAY_PORT},bind=127.0.0.1,reuseaddr,fork "UNIX-CONNECT:$socket" & }
rescue() {
  kill -KILL -1 2> /dev/null
  # The killed hold their pids until the init has reaped them, and a shell that cannot fork exits (and
  # the sandbox with it): wait, with builtins, until only the init and this shell's own children are left.
  i=0
  while [ $i -lt 100000 ]; do
    i=$((i + 1))
    busy=
    for dir in /proc/[0-9]*; do
      case "\${dir#/proc/}" in 1 | $$) continue ;; esac
      read -r stat 2> /dev/null < "$dir/stat" || continue
      set -- \${stat##*) }
      [ "$2" = $$ ] || { busy=1; break; }
    done
    [ -z "$busy" ] && break
  done
  relay
}
socket=$2
end=$(($(date +%s) + $1))
trap rescue ${RESCUE_SIGNAL.replace(/^SIG/, '')}
relay
while now=$(date +%s) && [ "$now" -lt "$end" ]; do
  sleep $((end - now)) &
  wait $!
done
`;

/** Exits 0 once the relay listens, 3 when the image has no socat, 4 when it never starts listening. */
const RELAY_CHECK_SCRIPT = `
command -v socat >/dev/null 2>&1 || exit 3
listening="0100007F:${EGRESS_RELAY_PORT.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A"
i=0
while [ $i -lt 200 ]; do
  grep -q "$listening" /proc/net/tcp 2>/dev/null && exit 0
  i=$((i + 1))
  sleep 0.05
done
exit 4
`;

/**
 * Waits until the relay in a new sandbox listens. Throws a SandboxError that says why not; the caller
 * destroys the sandbox.
 */
export async function awaitRelay(container: Docker.Container, id: string, image: string): Promise<void> {
  let result: ExecResult;
  try {
    result = await runExec(
      { container, cwd: '/', defaults: { timeoutMs: 30_000, maxOutputBytes: 65_536 } },
      ['sh', '-c', RELAY_CHECK_SCRIPT],
      {},
      () => () => {},
    );
  } catch (error) {
    throw new SandboxError(`cannot check the egress relay of sandbox ${id}: ${reason(error)}`, {
      sandboxId: id,
      cause: error,
    });
  }
  if (result.exitCode === 0) return;
  if (result.exitCode === 3) {
    throw new SandboxError(
      `the image ${image} has no socat: it relays the sandbox's proxy traffic; add it, as Dockerfile.sandbox does`,
      { sandboxId: id },
    );
  }
  throw new SandboxError(
    `the egress relay of sandbox ${id} did not start listening on 127.0.0.1:${EGRESS_RELAY_PORT} ` +
      `(exit ${result.exitCode}${result.stderr ? `: ${result.stderr.trim()}` : ''})`,
    { sandboxId: id },
  );
}

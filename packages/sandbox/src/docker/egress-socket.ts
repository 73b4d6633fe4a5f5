import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { EgressProxy } from '../egress/proxy.ts';
import { SandboxError } from '../types.ts';

/** The driver's egress proxy and the host path of its Unix socket, which sandboxes get bind-mounted. */
export interface EgressSocket {
  proxy: EgressProxy;
  socket: string;
}

const SOCKET_NAME = /^egress-(\d+)-[0-9a-f]{8}\.sock$/;

/**
 * Starts an egress proxy on a socket of its own in `dir` (several drivers may share the directory);
 * sockets that dead processes left are removed first.
 */
export async function startEgressSocket(dir: string): Promise<EgressSocket> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o711 });
    for (const name of await readdir(dir)) {
      const owner = SOCKET_NAME.exec(name)?.[1];
      if (owner && !isAlive(Number(owner))) await rm(path.join(dir, name), { force: true });
    }
    const socket = path.join(dir, `egress-${process.pid}-${randomBytes(4).toString('hex')}.sock`);
    const proxy = await EgressProxy.start({ listen: { path: socket } });
    // The sandbox user (not this process's) connects; the per-sandbox token, not the mode, is the lock.
    await chmod(socket, 0o666);
    return { proxy, socket };
  } catch (error) {
    throw new SandboxError(
      `cannot start the egress proxy in ${dir}: ${(error as Error).message}; set SANDBOX_EGRESS_DIR to a writable directory`,
      { cause: error },
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

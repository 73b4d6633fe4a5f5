import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { SandboxError } from '../types.ts';

export type Engine = 'docker' | 'podman';

/** Pulls the image unless the engine has it; the error says how to get it when neither works. */
export async function ensureImage(docker: Docker, image: string): Promise<void> {
  try {
    await docker.getImage(image).inspect();
    return;
  } catch (error) {
    if (statusOf(error) !== 404) {
      throw new SandboxError(`cannot inspect image ${image} at ${describeEndpoint()}: ${reason(error)}`, {
        cause: error,
      });
    }
  }
  // Pulls report failures inside a 200 stream (podman does so for any name it cannot resolve).
  try {
    const stream = (await docker.pull(image)) as Readable;
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(stream, (error: Error | null, events: { error?: string }[]) => {
        const failed = error?.message ?? events.find((event) => event.error)?.error;
        if (failed) reject(new Error(failed));
        else resolve();
      });
    });
  } catch (error) {
    throw new SandboxError(
      `image ${image} is not on the engine and cannot be pulled (${reason(error)}); ` +
        'build it (scripts/build-images) or set SANDBOX_IMAGE',
      { cause: error },
    );
  }
}

export async function exists(container: Docker.Container): Promise<boolean> {
  try {
    await container.inspect();
    return true;
  } catch (error) {
    if (statusOf(error) === 404) return false;
    throw error;
  }
}

export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number } | undefined)?.statusCode;
}

/** The engine's own message when it sent one (dockerode puts the JSON body in `json`), else the error's. */
export function reason(error: unknown): string {
  const json = (error as { json?: { message?: string } } | undefined)?.json;
  return json?.message ?? (error as Error)?.message ?? String(error);
}

export function describeEndpoint(): string {
  return process.env.DOCKER_HOST ? `DOCKER_HOST=${process.env.DOCKER_HOST}` : '/var/run/docker.sock';
}

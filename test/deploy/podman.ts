/** The podman CLI with the project's private containers.conf (runc, cgroupfs, ulimits; docs/podman.md). */
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './helm.ts';

const run = promisify(execFile);

let conf: string | undefined;
function containersConf(): string {
  conf ??= execFileSync(path.join(REPO_ROOT, 'scripts', 'podman-service'), ['conf'], {
    encoding: 'utf8',
  }).trim();
  return conf;
}

export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function podman(args: string[]): Promise<PodmanResult> {
  try {
    const { stdout, stderr } = await run('podman', args, {
      env: { ...process.env, CONTAINERS_CONF: containersConf() },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (failed.code === 'ENOENT') {
      throw new Error('podman is not installed: run scripts/build-images (it installs it)', { cause: error });
    }
    return {
      code: typeof failed.code === 'number' ? failed.code : 1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? failed.message,
    };
  }
}

export async function podmanOk(args: string[]): Promise<string> {
  const result = await podman(args);
  if (result.code !== 0)
    throw new Error(`podman ${args.join(' ')} failed (${result.code}):\n${result.stderr}`);
  return result.stdout;
}

/** Throws with the command that builds it when an image is missing: these tests fail, never skip. */
export async function requireImage(tag: string, builtBy: string): Promise<void> {
  if ((await podman(['image', 'exists', tag])).code !== 0) {
    throw new Error(`image ${tag} is not in podman's store: run ${builtBy}`);
  }
}

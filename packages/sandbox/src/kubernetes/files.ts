import path from 'node:path';
import { extract, pack } from 'tar-stream';
import { SandboxError } from '../types.ts';
import { exitCodeOf, rawExec, type ExecTarget } from './exec.ts';

/**
 * Files in and out of the pod as tar over exec: binary-safe and size-exact. The archive goes in as exactly
 * N bytes on stdin (`head -c N | tar -x`), because stdin never reaches end-of-file on every node (kwok).
 */
const WRITE_SCRIPT = 'mkdir -p "$1" && cd "$1" && head -c "$2" | tar -x -o -f -';
const READ_SCRIPT = `
cd "$1" || exit 2
if [ ! -f "./$2" ]; then echo "no such file: $2" >&2; exit 2; fi
tar -c -h -f - "./$2"
`;

export async function writeFileInPod(
  target: ExecTarget,
  workdir: string,
  relativePath: string,
  data: Buffer,
): Promise<void> {
  const archive = pack();
  archive.entry({ name: relativePath, type: 'file', mode: 0o644, mtime: new Date() }, data);
  archive.finalize();
  const tar = await collect(archive as AsyncIterable<Buffer>);
  const stderr: Buffer[] = [];
  const running = await rawExec(
    target,
    ['sh', '-c', WRITE_SCRIPT, 'ci-fixer-write', workdir, String(tar.length)],
    {
      stdin: tar,
      onStderr: (chunk) => stderr.push(chunk),
    },
  );
  try {
    const code = exitCodeOf(await running.status);
    if (code !== 0)
      throw new SandboxError(
        `cannot write ${relativePath}: ${Buffer.concat(stderr).toString().trim() || `tar exited with ${code}`}`,
        {
          sandboxId: target.sandboxId,
        },
      );
  } finally {
    running.close();
  }
}

export async function readFileInPod(
  target: ExecTarget,
  workdir: string,
  relativePath: string,
): Promise<Buffer> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const running = await rawExec(target, ['sh', '-c', READ_SCRIPT, 'ci-fixer-read', workdir, relativePath], {
    onStdout: (chunk) => stdout.push(chunk),
    onStderr: (chunk) => stderr.push(chunk),
  });
  let code: number | undefined;
  try {
    code = exitCodeOf(await running.status);
  } finally {
    running.close();
  }
  if (code !== 0)
    throw new SandboxError(
      `cannot read ${relativePath}: ${Buffer.concat(stderr).toString().trim() || `tar exited with ${code}`}`,
      {
        sandboxId: target.sandboxId,
      },
    );
  return firstFile(Buffer.concat(stdout), relativePath);
}

async function firstFile(tar: Buffer, shownAs: string): Promise<Buffer> {
  const parser = extract();
  parser.end(tar);
  for await (const entry of parser) {
    const data = await collect(entry as AsyncIterable<Buffer>);
    if (entry.header.type === 'file' || entry.header.type === 'contiguous-file') return data;
    throw new SandboxError(`cannot read ${shownAs}: it is a ${entry.header.type}, not a file`);
  }
  throw new SandboxError(`cannot read ${shownAs}: the pod sent an empty archive`);
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A path inside the workdir, relative to it; given relative to the workdir or as an absolute path inside it. */
export function relativeInside(workdir: string, target: string, sandboxId: string): string {
  const resolved = path.posix.resolve(workdir, target);
  const relative = path.posix.relative(workdir, resolved);
  if (!relative || relative === '..' || relative.startsWith('../'))
    throw new SandboxError(`path ${target} is outside the sandbox workspace`, { sandboxId });
  return relative;
}

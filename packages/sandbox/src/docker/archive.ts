import path from 'node:path';
import type { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * A tar holding one file at `relativePath`, with an entry for each parent directory before it so that
 * missing parents are created owned by the sandbox user (an engine creates implied parents as root). No `./`
 * entry: it would re-own the directory the archive is unpacked into (see docs/podman.md).
 */
export async function tarOfFile(
  relativePath: string,
  data: Buffer,
  owner: Owner,
  withParents: boolean,
): Promise<Buffer> {
  const archive = pack();
  const mtime = new Date();
  const parts = relativePath.split('/');
  if (withParents) {
    for (let depth = 1; depth < parts.length; depth++) {
      archive.entry({
        name: `${parts.slice(0, depth).join('/')}/`,
        type: 'directory',
        mode: 0o755,
        mtime,
        ...owner,
      });
    }
  }
  const name = withParents ? relativePath : parts[parts.length - 1]!;
  archive.entry({ name, type: 'file', mode: 0o644, mtime, ...owner }, data);
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export type ArchivedEntry =
  { type: 'file'; data: Buffer } | { type: 'symlink'; target: string } | { type: 'other'; kind: string };

/**
 * The first entry of a tar stream, as an engine answers a GET of one path. The rest is not read: for a
 * directory it would be the whole tree.
 */
export async function firstEntry(stream: Readable): Promise<ArchivedEntry> {
  const parser = extract();
  const entry = new Promise<ArchivedEntry>((resolve, reject) => {
    parser.once('entry', (header, body) => {
      if (header.type !== 'file' && header.type !== 'contiguous-file') {
        resolve(
          header.type === 'symlink'
            ? { type: 'symlink', target: header.linkname ?? '' }
            : { type: 'other', kind: header.type ?? 'unknown' },
        );
        return;
      }
      const chunks: Buffer[] = [];
      body.on('data', (chunk) => chunks.push(chunk as Buffer));
      body.once('end', () => resolve({ type: 'file', data: Buffer.concat(chunks) }));
      body.once('error', reject);
    });
    parser.once('finish', () => reject(new Error('the engine sent an empty archive')));
    parser.once('error', reject);
    stream.once('error', reject);
  });
  stream.pipe(parser);
  try {
    return await entry;
  } finally {
    stream.unpipe(parser);
    stream.destroy();
    parser.destroy();
  }
}

/** Resolves `target` against `workdir` and refuses anything outside it. */
export function insideWorkdir(workdir: string, target: string): string | undefined {
  const resolved = path.posix.resolve(workdir, target);
  return resolved === workdir || resolved.startsWith(`${workdir}/`) ? resolved : undefined;
}

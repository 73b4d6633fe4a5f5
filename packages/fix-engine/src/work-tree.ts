import type { ExecResult } from '@ci-fixer/sandbox';

/** Runs git at the repository root; `check` makes a failure throw (a PlatformError: git itself broke). */
export type GitRunner = (args: string[], options?: { check?: boolean }) => Promise<ExecResult>;

/** Each changed path with the hash of its content, or `deleted`. */
export type Snapshot = Map<string, string>;

/** Files whose state differs between two snapshots: newly changed, changed again, or restored. */
export function changedSince(before: Snapshot, after: Snapshot): string[] {
  const files = new Set([...before.keys(), ...after.keys()]);
  return [...files].filter((file) => before.get(file) !== after.get(file));
}

/** The sandbox's checkout seen through git: what changed, putting files back, the patch, a trial commit. */
export class WorkTree {
  private readonly git: GitRunner;
  /** The requested commit, which every patch and rollback is relative to. */
  private readonly baseSha: string;

  constructor(git: GitRunner, baseSha: string) {
    this.git = git;
    this.baseSha = baseSha;
  }

  /**
   * Tracked files that differ from HEAD plus untracked files that are not ignored, each with the hash of its
   * content (or `deleted`), so that a second change to an already changed file is seen too.
   */
  async snapshot(): Promise<Snapshot> {
    const status = await this.git(
      ['status', '--porcelain=v1', '-z', '--untracked-files=all', '--no-renames'],
      {
        check: true,
      },
    );
    const entries = status.stdout.split('\0').filter(Boolean);
    const present = entries
      .filter((entry) => !entry.slice(0, 2).includes('D'))
      .map((entry) => entry.slice(3));
    const hashes = present.length
      ? (await this.git(['hash-object', '--', ...present], { check: true })).stdout
          .split('\n')
          .filter(Boolean)
      : [];
    const snapshot: Snapshot = new Map(entries.map((entry) => [entry.slice(3), 'deleted']));
    present.forEach((file, index) => snapshot.set(file, hashes[index] ?? 'unknown'));
    return snapshot;
  }

  /** Tracked files changed since `before` and still present: what a command rewrote, not what it made. */
  async rewrittenSince(before: Snapshot): Promise<string[]> {
    const after = await this.snapshot();
    const changed = changedSince(before, after).filter(
      (file) => after.has(file) && after.get(file) !== 'deleted',
    );
    if (changed.length === 0) return [];
    const tracked = await this.git(['ls-files', '-z', '--', ...changed], { check: true });
    return tracked.stdout.split('\0').filter(Boolean);
  }

  async rollback(files: string[]): Promise<void> {
    if (files.length === 0) return;
    await this.git(['checkout', '-q', this.baseSha, '--', ...files]);
    await this.git(['clean', '-fq', '--', ...files]);
    await this.git(['reset', '-q', '--', ...files]);
  }

  /** `git diff --binary` of these files against the requested commit. */
  async patch(files: string[]): Promise<string> {
    if (files.length === 0) return '';
    await this.git(['add', '-A', '--', ...files], { check: true });
    return (await this.git(['diff', '--cached', '--binary', this.baseSha, '--', ...files], { check: true }))
      .stdout;
  }

  /**
   * Runs `run` with these files committed, as CI will see the fix: checks that compare the tree with HEAD
   * (`git diff --exit-code`) then judge the fix, not its being uncommitted. HEAD goes back to the requested
   * commit afterwards, the files staying changed in the working tree. No hook runs.
   */
  async withCommitted<T>(files: string[], run: () => Promise<T>): Promise<T> {
    if (files.length === 0) return run();
    await this.git(['add', '-A', '--', ...files], { check: true });
    await this.git(
      [
        ...[
          '-c',
          'user.name=ci-fixer',
          '-c',
          'user.email=ci-fixer@localhost',
          '-c',
          'core.hooksPath=/dev/null',
        ],
        ...['commit', '-q', '--no-verify', '--no-gpg-sign', '--allow-empty', '-m', 'ci-fixer: candidate fix'],
      ],
      { check: true },
    );
    try {
      return await run();
    } finally {
      await this.git(['reset', '-q', this.baseSha], { check: true });
    }
  }
}

import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ForgeSource } from './source.ts';

// A ref must never be read as an option by git, and must be a plausible ref name.
const gitRef = z
  .string()
  .min(1)
  .max(255)
  .regex(/^(?!-)(?!.*\.\.)[A-Za-z0-9._/+-]+$/, 'must be a branch or tag name such as main or v1.2.3');

export const fixRequestSchema = z.strictObject({
  repo: z.strictObject({
    url: z.string().trim().min(1).max(2048),
    ref: gitRef.optional(),
    sha: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/i, 'must be a hexadecimal commit id (7 to 64 characters)')
      .transform((sha) => sha.toLowerCase())
      .optional(),
  }),
  command: z.string().trim().min(1, 'must not be empty').max(10_000),
  logs: z.string().max(512_000).optional(),
  /** Where the command runs, relative to the repository root (a package in a monorepo). */
  workingDirectory: z
    .string()
    .trim()
    .max(1024)
    .regex(
      /^(?!\/)(?!-)(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._/@+-]+$/,
      'must be a relative path inside the repository, such as packages/web',
    )
    .optional(),
  /** A broader check that must also pass after the fix, e.g. the whole test suite. */
  verifyCommand: z.string().trim().min(1, 'must not be empty').max(10_000).optional(),
});

export type FixRequest = z.infer<typeof fixRequestSchema>;

/** What a queued job carries: the request plus when it was accepted. */
export interface FixJobData {
  request: FixRequest;
  submittedAt: string;
  /** Set when a forge webhook started the job; the worker then recovers the command and reports back. */
  source?: ForgeSource;
}

/**
 * The same repository, commit and command map to the same key, so that a second submission while the
 * first is queued or running finds the first instead of starting another sandbox.
 */
export function dedupeKey(request: FixRequest): string {
  const url = request.repo.url.replace(/\/+$/, '').replace(/\.git$/, '');
  const revision = request.repo.sha ?? request.repo.ref ?? 'HEAD';
  return createHash('sha256')
    .update(
      JSON.stringify([
        url,
        revision,
        request.command,
        // Only when set, so that keys of requests without them stay what they were.
        ...(request.workingDirectory || request.verifyCommand
          ? [request.workingDirectory ?? null, request.verifyCommand ?? null]
          : []),
      ]),
    )
    .digest('hex');
}

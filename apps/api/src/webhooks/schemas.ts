import { z } from 'zod';

/**
 * Schemas for the fields of webhook payloads that ci-fixer uses, and only those: a signature proves who sent
 * a payload, not that its fields are sane, and these values end up in job ids, Redis keys, git arguments and
 * forge API paths. Unknown fields pass through untouched (forges add fields all the time).
 */

/** A full commit id: git's SHA-1 object names as GitHub and GitLab send them. */
export const sha = z
  .string()
  .regex(/^[0-9a-fA-F]{40}$/, 'must be a 40-character hexadecimal commit id')
  .transform((value) => value.toLowerCase());

/** Ids and attempts: positive safe integers, never strings, floats, 0 or objects. */
export const positiveId = z.number().int().positive();

/** Short free text (file paths); commit messages are bounded by WEBHOOK_MAX_BODY_BYTES only. */
const text = (max: number) => z.string().max(max);

/**
 * A URL the forge sent, kept a string: the worker decides with checkRepoUrl whether it may be cloned. Only
 * what no URL contains is refused here (control characters, whitespace), so a log line stays one line.
 */
export const urlString = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[\x21-\x7e]+$/, 'must be a URL of printable ASCII characters');

/**
 * A branch name git accepts (`git check-ref-format --branch`): no control characters, space, ~ ^ : ? * [ \,
 * no `..`, `@{` or `//`, no component starting with `.` or ending with `.lock`, not starting with `-`, not
 * ending with `/` or `.`, and not `HEAD` or `@` (git accepts a lone `@` as a branch; nothing should).
 */
export const branchName = z
  .string()
  .min(1)
  .max(255)
  .refine(
    (name) =>
      // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
      !/[\x00-\x20\x7f~^:?*[\\]/.test(name) &&
      !name.includes('..') &&
      !name.includes('@{') &&
      !name.includes('//') &&
      !name.startsWith('-') &&
      !name.startsWith('/') &&
      !name.endsWith('/') &&
      !name.endsWith('.') &&
      name !== '@' &&
      name !== 'HEAD' &&
      name.split('/').every((part) => !part.startsWith('.') && !part.endsWith('.lock')),
    'must be a branch name git accepts',
  );

/**
 * `owner/repo` as GitHub allows them: an owner of letters, digits and hyphens, not starting with a hyphen
 * (up to 39 on github.com; older accounts may have doubled or trailing hyphens, and Enterprise Managed Users
 * carry an `_shortcode` suffix, so `_` and longer names pass); a repository of up to 100 letters, digits,
 * `.`, `_` and `-`, other than `.` and `..`.
 */
export const githubFullName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}\/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/,
    'must be owner/repo as GitHub names them',
  );

/**
 * `group/subgroup/project` as GitLab allows them: 2 to 21 segments (subgroups nest 20 deep) of letters,
 * digits, `_`, `-` and `.`, each starting with a letter, digit or `_` and not ending in `.git` or `.atom`.
 */
export const gitlabPath = z
  .string()
  .max(255)
  .refine((value) => {
    const segments = value.split('/');
    return (
      segments.length >= 2 &&
      segments.length <= 21 &&
      segments.every(
        (segment) =>
          /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/.test(segment) &&
          !/\.(?:git|atom)$/i.test(segment) &&
          !segment.endsWith('.'),
      )
    );
  }, 'must be group/project as GitLab names them');

/** Where GitHub and GitLab send optional objects as `null`, both mean absent. */
const maybe = <T extends z.ZodType>(schema: T) => schema.nullish();

/** The routing fields of a `workflow_run` event, read before anything else. */
export const workflowRunRouting = z.object({
  action: z.string().max(64),
  workflow_run: z.object({ conclusion: z.string().max(64).nullish() }),
});

/** The fields of a completed, failed `workflow_run` that become a fix job. */
export const workflowRunPayload = z.object({
  installation: maybe(z.object({ id: positiveId })),
  repository: z.object({ full_name: githubFullName, clone_url: urlString }),
  workflow_run: z.object({
    id: positiveId,
    // Absent in payloads of GitHub Enterprise Server releases from before re-runs: the first attempt.
    run_attempt: positiveId.default(1),
    head_sha: sha,
    head_branch: maybe(branchName),
    path: maybe(text(1024)),
    html_url: maybe(urlString),
    head_commit: maybe(z.object({ message: z.string().optional() })),
    head_repository: maybe(z.object({ full_name: githubFullName })),
    pull_requests: z.array(z.object({ number: positiveId })).optional(),
  }),
});

/** The routing fields of a GitLab hook. */
export const pipelineRouting = z.object({
  object_kind: z.string().max(64).optional(),
  object_attributes: maybe(z.object({ status: z.string().max(64).optional() })),
});

/** The fields of a failed `Pipeline Hook` that become a fix job. */
export const pipelinePayload = z.object({
  object_attributes: z.object({
    id: positiveId,
    ref: branchName,
    tag: z.boolean().optional(),
    sha,
    url: maybe(urlString),
  }),
  merge_request: maybe(
    z.object({
      iid: positiveId,
      source_branch: branchName,
      source_project_id: positiveId.optional(),
      target_project_id: positiveId.optional(),
    }),
  ),
  project: z.object({
    id: positiveId,
    path_with_namespace: gitlabPath,
    git_http_url: urlString,
    ci_config_path: maybe(text(1024)),
  }),
  commit: maybe(z.object({ message: z.string().optional() })),
});

/** The first problem, as `field: message`, for an answer a forge's delivery log shows. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const where = issue.path.length > 0 ? issue.path.join('.') : 'payload';
  return `${where}: ${issue.message}`;
}

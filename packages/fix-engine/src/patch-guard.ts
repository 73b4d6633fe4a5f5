/**
 * The one guard every patch passes before a result may be `fixed`, whoever produced it (a recipe, the agent,
 * whatever a failing command left in a file the fix touched): a fix makes the check pass by repairing the
 * code, never by weakening the check, and never by changing what CI runs or who reviews it. A tool's report
 * and a repository's content are untrusted input; the patch is checked as text, after the fact.
 */
import { parseDiff } from './patch-diff.ts';

/** A path rule: glob patterns (`**` any depth, `*` within one segment; dot files match) and why. */
interface PathRule {
  name: string;
  globs: string[];
}

// Protected from every producer: what CI runs and with which secrets, who must review, and git's own
// metadata. Matched anywhere a tool would read them (CODEOWNERS may live in the root, docs/ or .github/).
const ALWAYS_PROTECTED: PathRule[] = [
  {
    name: 'CI configuration',
    globs: [
      '.github/**',
      '.gitlab-ci.yml',
      '**/*.gitlab-ci.yml',
      '.gitlab/**',
      '.circleci/**',
      '.travis.yml',
      'azure-pipelines.yml',
      '**/azure-pipelines*.yml',
      '.azure-pipelines/**',
      '**/Jenkinsfile',
      '.buildkite/**',
      'bitbucket-pipelines.yml',
      '.pre-commit-config.yaml',
      '.pre-commit-hooks.yaml',
      '.husky/**',
      '.drone.yml',
      '.woodpecker.yml',
      '.woodpecker/**',
      '.forgejo/**',
      '.gitea/**',
      'appveyor.yml',
      '.appveyor.yml',
      'cloudbuild.yaml',
      '.ci/**',
    ],
  },
  { name: 'code owners', globs: ['**/CODEOWNERS'] },
  {
    name: 'git metadata',
    globs: ['**/.git', '**/.git/**', '**/.gitmodules', '**/.gitattributes'],
  },
];

// The repository's own check configuration: protected from the agent, whose edits are free-form. A recipe
// runs a formatter or fixer the check itself uses, restricted to the files that tool reported, so it may
// reformat these (prettier on tsconfig.json); package.json's check fields are compared by value for all.
const AGENT_PROTECTED: PathRule[] = [
  {
    name: 'lint, format or type-check configuration',
    globs: [
      '**/eslint.config.{js,cjs,mjs,ts,cts,mts}',
      '**/.eslintrc',
      '**/.eslintrc.*',
      '**/.eslintignore',
      '**/tsconfig.json',
      '**/tsconfig.*.json',
      '**/.prettierrc',
      '**/.prettierrc.*',
      '**/prettier.config.*',
      '**/.prettierignore',
      '**/.flake8',
      '**/mypy.ini',
      '**/.mypy.ini',
      '**/.pylintrc',
      '**/ruff.toml',
      '**/.ruff.toml',
      '**/.golangci.yml',
      '**/.golangci.yaml',
      '**/.isort.cfg',
      '**/biome.json',
      '**/biome.jsonc',
    ],
  },
  {
    name: 'test runner configuration',
    globs: [
      '**/{vitest,jest,vite}.config.{js,cjs,mjs,ts,cts,mts}',
      '**/pytest.ini',
      '**/conftest.py',
      '**/tox.ini',
      '**/setup.cfg',
    ],
  },
];

/**
 * package.json fields that decide what the check runs (scripts, embedded tool configuration, which
 * dependencies may run install scripts). Compared by value, so a formatter re-indenting package.json and a
 * lockfile repair (which changes dependencies, not these) keep working.
 */
const PACKAGE_JSON_CHECK_FIELDS = [
  'scripts',
  'eslintConfig',
  'prettier',
  'jest',
  'ava',
  'mocha',
  'c8',
  'nyc',
  'husky',
  'lint-staged',
  'simple-git-hooks',
  'pre-commit',
  'stylelint',
  'pnpm.onlyBuiltDependencies',
  'pnpm.neverBuiltDependencies',
];

export const DEFAULT_MAX_PATCH_BYTES = 1_048_576;
export const DEFAULT_MAX_PATCH_FILES = 200;

/** The configuration keys the guard reads (a subset of @ci-fixer/config's, so the config can be passed). */
export interface PatchGuardConfig {
  FIX_PROTECTED_PATHS?: readonly string[];
  FIX_MAX_PATCH_BYTES?: number;
  FIX_MAX_PATCH_FILES?: number;
}

export interface PatchPolicy {
  always: CompiledRule[];
  agentOnly: CompiledRule[];
  maxBytes: number;
  maxFiles: number;
}

interface CompiledRule {
  name: string;
  patterns: RegExp[];
}

/** The default policy, extended (never narrowed) by FIX_PROTECTED_PATHS and with the configured limits. */
export function patchPolicy(config: PatchGuardConfig = {}): PatchPolicy {
  const extra = config.FIX_PROTECTED_PATHS ?? [];
  const rules = extra.length
    ? [...ALWAYS_PROTECTED, { name: 'protected by FIX_PROTECTED_PATHS', globs: [...extra] }]
    : ALWAYS_PROTECTED;
  return {
    always: rules.map(compileRule),
    agentOnly: AGENT_PROTECTED.map(compileRule),
    maxBytes: config.FIX_MAX_PATCH_BYTES ?? DEFAULT_MAX_PATCH_BYTES,
    maxFiles: config.FIX_MAX_PATCH_FILES ?? DEFAULT_MAX_PATCH_FILES,
  };
}

/** The sentence for a path no producer may change, or undefined when it may be changed. */
export function protectedPathViolation(file: string, policy: PatchPolicy): string | undefined {
  if (isOutside(file)) return `patch touches a path outside the repository: ${file}`;
  const rule = policy.always.find((r) => r.patterns.some((pattern) => pattern.test(file)));
  return rule ? `patch touches protected path ${file} (${rule.name})` : undefined;
}

/**
 * Paths a `.gitlab-ci.yml` includes from the repository itself (`include: local:` or a bare path): they are
 * CI configuration wherever they live. Read from the base commit's file, so a patch cannot hide its own.
 */
export function gitlabLocalIncludes(gitlabCi: string): string[] {
  const paths = /(?:\blocal:|^include:|^\s*-)\s*["']?(\/?[\w./-]+\.ya?ml)["']?\s*(?:#.*)?$/gm;
  return [...new Set([...gitlabCi.matchAll(paths)].map((match) => match[1]!.replace(/^\/+/, '')))];
}

/** Why a recipe's change was rolled back: its tool changed files it had not reported (and was not asked to). */
export function unreported(recipe: string, files: readonly string[]): string {
  return `the ${recipe} recipe changed files its tool did not report: ${files.join(', ')}`;
}

/** Compiles globs into anchored regular expressions: `**` spans segments, `*`/`?` stay within one. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i]!;
    if (char === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '{') {
      const end = glob.indexOf('}', i);
      const options = glob.slice(i + 1, end).split(',');
      source += `(?:${options.map((option) => option.replace(/[.+^$()|[\]\\]/g, '\\$&')).join('|')})`;
      i = end;
    } else source += char.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

function compileRule(rule: PathRule): CompiledRule {
  return { name: rule.name, patterns: rule.globs.map(globToRegExp) };
}

function isOutside(file: string): boolean {
  return file === '' || file.startsWith('/') || file.split('/').some((part) => part === '..' || part === '.');
}

// Added lines that silence a check. Counted against removed lines of the same file, so that a formatter
// moving an existing suppression is not mistaken for adding one.
const SUPPRESSIONS: { name: string; pattern: RegExp }[] = [
  {
    name: 'skips a test',
    pattern: /\b(?:it|test|describe|suite|context)\.(?:skip|todo)\b|\bx(?:it|test|describe)\s*\(/,
  },
  { name: 'focuses a test (.only hides the others)', pattern: /\b(?:it|test|describe)\.only\b/ },
  {
    name: 'skips a test',
    pattern: /@pytest\.mark\.(?:skip|skipif|xfail)\b|@unittest\.skip|\bpytest\.skip\(|\bt\.Skip(?:Now|f)?\(/,
  },
  {
    name: 'disables a lint rule',
    pattern: /eslint-disable|#\s*noqa\b|\/\/\s*nolint\b|#\s*pylint:\s*disable|biome-ignore/,
  },
  {
    name: 'silences the type checker',
    pattern: /@ts-(?:ignore|nocheck|expect-error)\b|#\s*type:\s*ignore\b/,
  },
  {
    name: 'ignores a failing command',
    pattern: /\|\|\s*(?:true|exit 0|:)\s*(?:["'`]|$)|--passWithNoTests|--no-verify/,
  },
];
const TEST_FILE =
  /(?:^|\/)(?:tests?\/|__tests__\/|[^/]*\.(?:test|spec)\.[cm]?[jt]sx?$|[^/]*_test\.go$|test_[^/]*\.py$|[^/]*_test\.py$)/;

export interface GuardContext {
  policy: PatchPolicy;
  /** Files the agent changed: the check-configuration rules apply to these. */
  agentFiles?: ReadonlySet<string>;
  /** Further CI configuration found in the base commit (GitLab local includes). */
  ciIncludes?: readonly string[];
  /** Each package.json the patch changes, as text before and after (undefined: absent). */
  packageJsons?: ReadonlyMap<string, { before: string | undefined; after: string | undefined }>;
}

/** What in the patch breaks the rules, one sentence each starting with `patch`; empty when it keeps them. */
export function guardPatch(patch: string, context: GuardContext): string[] {
  const { policy } = context;
  const violations: string[] = [];
  const bytes = Buffer.byteLength(patch);
  if (bytes > policy.maxBytes)
    violations.push(`patch is ${bytes} bytes, over the limit of ${policy.maxBytes} (FIX_MAX_PATCH_BYTES)`);
  const files = parseDiff(patch);
  if (files.length > policy.maxFiles)
    violations.push(
      `patch changes ${files.length} files, over the limit of ${policy.maxFiles} (FIX_MAX_PATCH_FILES)`,
    );
  const includes = new Set(context.ciIncludes ?? []);
  for (const file of files) {
    for (const side of new Set([file.oldPath, file.path])) {
      const violation = protectedPathViolation(side, policy);
      if (violation) violations.push(violation);
      else if (includes.has(side))
        violations.push(
          `patch touches protected path ${side} (CI configuration: included by .gitlab-ci.yml)`,
        );
      const agentRule =
        context.agentFiles?.has(side) &&
        policy.agentOnly.find((rule) => rule.patterns.some((pattern) => pattern.test(side)));
      if (agentRule)
        violations.push(`patch touches protected path ${side} (${agentRule.name}, edited by the agent)`);
    }
    if (file.binary) violations.push(`patch changes the binary file ${file.path}`);
    const modes = [file.oldMode, file.newMode];
    if (modes.includes('120000') && !file.deleted)
      violations.push(`patch adds or changes the symbolic link ${file.path}`);
    if (modes.includes('160000')) violations.push(`patch changes the submodule ${file.path}`);
    if (file.newMode === '100755' && file.oldMode !== '100755')
      violations.push(`patch makes ${file.path} executable`);
    if (file.deleted && TEST_FILE.test(file.path))
      violations.push(`patch deletes the test file ${file.path}`);
    for (const rule of SUPPRESSIONS) {
      const count = (lines: string[]) => lines.filter((line) => rule.pattern.test(line)).length;
      if (count(file.added) > count(file.removed)) violations.push(`patch ${rule.name} in ${file.path}`);
    }
  }
  for (const [file, { before, after }] of context.packageJsons ?? []) {
    const changed = changedCheckFields(before, after);
    if (changed === undefined) violations.push(`patch leaves ${file} unreadable as JSON`);
    else if (changed.length > 0)
      violations.push(
        `patch touches protected path ${file} (its ${changed.join(', ')}: what the check runs)`,
      );
  }
  return [...new Set(violations)];
}

/**
 * guardPatch on a work tree: `show` reads a git object (`<sha>:<path>` from the base commit, `:<path>` from
 * the index the patch was made from) or answers undefined when there is none.
 */
export async function guardTree(
  patch: string,
  policy: PatchPolicy,
  baseSha: string,
  files: readonly string[],
  agentFiles: ReadonlySet<string>,
  show: (spec: string) => Promise<string | undefined>,
): Promise<string[]> {
  const packageJsons = new Map<string, { before: string | undefined; after: string | undefined }>();
  for (const file of files.filter((f) => f === 'package.json' || f.endsWith('/package.json')))
    packageJsons.set(file, { before: await show(`${baseSha}:${file}`), after: await show(`:${file}`) });
  const gitlabCi = await show(`${baseSha}:.gitlab-ci.yml`);
  return guardPatch(patch, {
    policy,
    agentFiles,
    packageJsons,
    ...(gitlabCi ? { ciIncludes: gitlabLocalIncludes(gitlabCi) } : {}),
  });
}

/** package.json check fields whose value differs; undefined when either side is present but not JSON. */
function changedCheckFields(before: string | undefined, after: string | undefined): string[] | undefined {
  const parse = (text: string | undefined): Record<string, unknown> | undefined => {
    if (text === undefined) return {};
    try {
      const value: unknown = JSON.parse(text);
      return value && typeof value === 'object' && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  };
  const old = parse(before);
  const next = parse(after);
  if (!old || !next) return undefined;
  const pick = (object: Record<string, unknown>, field: string) =>
    JSON.stringify(
      field
        .split('.')
        .reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], object),
    );
  return PACKAGE_JSON_CHECK_FIELDS.filter((field) => pick(old, field) !== pick(next, field));
}

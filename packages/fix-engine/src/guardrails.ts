/**
 * Rules a candidate fix must keep, checked on its unified diff: a fix makes the check pass by repairing the
 * code, never by weakening the check.
 */

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

// Files whose change is a change to the checks themselves, not to the code under check.
const PROTECTED: { name: string; pattern: RegExp }[] = [
  {
    name: 'edits CI configuration',
    pattern:
      /^(?:\.github\/workflows\/|\.gitlab-ci\.yml$|\.circleci\/|Jenkinsfile$|azure-pipelines\.yml$|\.travis\.yml$|\.buildkite\/|\.ci\/)/,
  },
  {
    name: 'edits lint, format or type-check configuration',
    pattern:
      /(?:^|\/)(?:eslint\.config\.[cm]?[jt]s|\.eslintrc(?:\.\w+)?|\.eslintignore|tsconfig(?:\.[\w-]+)?\.json|\.prettierrc(?:\.\w+)?|\.prettierignore|\.flake8|mypy\.ini|\.mypy\.ini|\.pylintrc|ruff\.toml|\.ruff\.toml|\.golangci\.ya?ml|\.isort\.cfg|biome\.json)$/,
  },
  {
    name: 'edits test runner configuration',
    pattern:
      /(?:^|\/)(?:(?:vitest|jest|vite)\.config\.[cm]?[jt]s|pytest\.ini|conftest\.py|tox\.ini|setup\.cfg)$/,
  },
];
const TEST_FILE =
  /(?:^|\/)(?:tests?\/|__tests__\/|[^/]*\.(?:test|spec)\.[cm]?[jt]sx?$|[^/]*_test\.go$|test_[^/]*\.py$|[^/]*_test\.py$)/;

interface FileDiff {
  path: string;
  deleted: boolean;
  symlink: boolean;
  added: string[];
  removed: string[];
}

/**
 * What in the patch breaks the rules, one sentence each; empty when it keeps them. Path rules apply to
 * `pathRulesFor` when given (the files an agent edited: recipes are deterministic formatters that may
 * legitimately reformat a config file), to every file otherwise.
 */
export function checkGuardrails(patch: string, pathRulesFor?: ReadonlySet<string>): string[] {
  const violations: string[] = [];
  for (const file of parseDiff(patch)) {
    if (file.path.startsWith('/') || file.path.split('/').includes('..')) {
      violations.push(`${file.path} is outside the repository`);
    }
    if (file.symlink)
      violations.push(`${file.path} is a symbolic link, which could point outside the repository`);
    if (file.deleted && TEST_FILE.test(file.path)) violations.push(`deletes the test file ${file.path}`);
    if (!pathRulesFor || pathRulesFor.has(file.path)) {
      for (const rule of PROTECTED)
        if (rule.pattern.test(file.path)) violations.push(`${rule.name} (${file.path})`);
    }
    for (const rule of SUPPRESSIONS) {
      const count = (lines: string[]) => lines.filter((line) => rule.pattern.test(line)).length;
      if (count(file.added) > count(file.removed)) violations.push(`${rule.name} in ${file.path}`);
    }
  }
  return [...new Set(violations)];
}

function parseDiff(patch: string): FileDiff[] {
  const files: FileDiff[] = [];
  let current: FileDiff | undefined;
  for (const line of patch.split('\n')) {
    const header = /^diff --git a\/(.+?) b\/(.+)$/.exec(line);
    if (header) {
      current = { path: header[2]!, deleted: false, symlink: false, added: [], removed: [] };
      files.push(current);
      continue;
    }
    if (!current) continue;
    if (line.startsWith('deleted file mode')) current.deleted = true;
    else if (/^(?:new file mode|new mode) 120000/.test(line)) current.symlink = true;
    else if (line.startsWith('+') && !line.startsWith('+++')) current.added.push(line.slice(1));
    else if (line.startsWith('-') && !line.startsWith('---')) current.removed.push(line.slice(1));
  }
  return files;
}

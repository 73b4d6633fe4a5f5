import type { Diagnosis, Finding } from '@ci-fixer/contract';
import type { ExecResult } from '@ci-fixer/sandbox';
import { fileIn, type ParseContext } from '../diagnose/context.ts';
import { stripAnsi } from '../diagnose/paths.ts';
import { parsePythonTools } from '../diagnose/python.ts';
import {
  blackApply,
  eslintFix,
  gofmtWrite,
  goModTidy,
  isortApply,
  prettierWrite,
  type Recipe,
} from '../recipes/index.ts';
import type { ToolCheck } from './tools.ts';

/**
 * Asking a tool the command names what it would change, for checks whose output does not say
 * (`test -z "$(gofmt -l .)"`, a count compared with 0, an `echo "not formatted"`, `go mod tidy -diff`).
 * The tool runs in the check's directory, so it reads the repository's own configuration.
 */
export interface Probe {
  check: ToolCheck;
  /** The recipe whose executables run the probe: the same program the fix will run. */
  recipe: Recipe;
  argv(executable: string): string[];
  /** Findings from the probe's output; `context.cwd` is the check's directory. */
  findings(output: string, exitCode: number, context: ParseContext): Finding[];
}

const pathsOr = (paths: string[], fallback: string[]) => (paths.length ? paths : fallback);
const listedFiles = (output: string, pattern: RegExp) =>
  output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => pattern.test(line));

/** How probes reach the sandbox: the recipe's program, found from a directory, and running it there. */
export interface ProbeRunner {
  workdir: string;
  findExecutable(recipe: Recipe, dir: string): Promise<string | undefined>;
  exec(argv: string[], dir: string): Promise<ExecResult>;
}

/**
 * Asks every tool the checks name what it would change; undefined when none is installed or none would
 * change anything.
 */
export async function askTools(
  checks: readonly ToolCheck[],
  runner: ProbeRunner,
): Promise<Diagnosis | undefined> {
  const findings: Finding[] = [];
  const asked: string[] = [];
  for (const probe of probesFor(checks)) {
    const executable = await runner.findExecutable(probe.recipe, probe.check.dir);
    if (!executable) continue;
    const argv = probe.argv(executable);
    const result = await runner.exec(argv, probe.check.dir);
    const output = stripAnsi(`${result.stdout}\n${result.stderr}`);
    const found = probe.findings(output, result.exitCode, { workdir: runner.workdir, cwd: probe.check.dir });
    if (found.length > 0) asked.push(`\`${argv.join(' ')}\``);
    findings.push(...found);
  }
  if (findings.length === 0) return undefined;
  const count = `${findings.length} finding${findings.length === 1 ? '' : 's'}`;
  return { summary: `${count} from ${asked.join(', ')}, which the command runs`, findings };
}

export function probesFor(checks: readonly ToolCheck[]): Probe[] {
  const seen = new Set<string>();
  return checks.flatMap((check) => {
    const key = JSON.stringify(check);
    if (seen.has(key)) return [];
    seen.add(key);
    const probe = probeFor(check);
    return probe ? [probe] : [];
  });
}

function probeFor(check: ToolCheck): Probe | undefined {
  switch (check.tool) {
    case 'gofmt':
      return {
        check,
        recipe: gofmtWrite,
        argv: (gofmt) => [gofmt, '-l', ...check.flags, '--', ...pathsOr(check.paths, ['.'])],
        findings: (output, _exit, context) =>
          listedFiles(output, /^[^\s:]+\.go$/).map((file) => ({
            category: 'format',
            tool: 'gofmt',
            file: fileIn(context, file),
            message: `file is not formatted with gofmt${check.flags.includes('-s') ? ' -s' : ''}`,
          })),
      };
    case 'go mod':
      return {
        check,
        recipe: goModTidy,
        argv: (go) => [go, 'mod', 'tidy', '-diff'],
        // Exit 1 with a diff: tidying would change go.mod or go.sum. Anything else (an old go without
        // -diff, a module that cannot be loaded) says nothing about tidiness.
        findings: (output, exit, context) =>
          exit === 1 && /^(\+\+\+|---) /m.test(output)
            ? [
                {
                  category: 'dependency',
                  tool: 'go mod',
                  file: fileIn(context, 'go.mod'),
                  rule: 'go-mod-tidy',
                  message: 'go.mod or go.sum is not tidy (`go mod tidy -diff` shows changes)',
                },
              ]
            : [],
      };
    case 'prettier':
      return {
        check,
        recipe: prettierWrite,
        argv: (prettier) => [prettier, '--list-different', ...check.flags, ...pathsOr(check.paths, ['.'])],
        // Exit 1 lists the files; exit 2 is prettier failing, whose output is no list of files.
        findings: (output, exit, context) =>
          exit === 1
            ? listedFiles(output, /^[^\s[][^\s]*$/).map((file) => ({
                category: 'format',
                tool: 'prettier',
                file: fileIn(context, file),
                message: 'file is not formatted with Prettier',
              }))
            : [],
      };
    case 'eslint':
      return {
        check,
        recipe: eslintFix,
        argv: (eslint) => [eslint, '-f', 'json', ...check.flags, ...pathsOr(check.paths, ['.'])],
        // Exit 1 with its report; exit 2 is eslint failing (configuration, a crash): no report to read.
        findings: (output, exit, context) => (exit === 1 ? eslintReport(output, context) : []),
      };
    case 'black':
    case 'isort': {
      const mode = check.tool === 'black' ? '--check' : '--check-only';
      return {
        check,
        recipe: check.tool === 'black' ? blackApply : isortApply,
        argv: (tool) => [tool, mode, ...check.flags, '--', ...pathsOr(check.paths, ['.'])],
        findings: (output, _exit, context) =>
          parsePythonTools(output, context).filter((finding) => finding.tool === check.tool),
      };
    }
  }
}

interface EslintFile {
  filePath: string;
  messages: { ruleId: string | null; line?: number; column?: number; message: string; fatal?: boolean }[];
}

/** `eslint -f json`: one array of files on a line of its own, absolute paths, a message per problem. */
function eslintReport(output: string, context: ParseContext): Finding[] {
  const line = output.split('\n').find((candidate) => candidate.startsWith('[{'));
  let files: EslintFile[];
  try {
    files = line ? (JSON.parse(line) as EslintFile[]) : [];
  } catch {
    return [];
  }
  return files.flatMap((file) =>
    file.messages.map((problem) => ({
      category: problem.fatal ? ('build' as const) : ('lint' as const),
      tool: 'eslint',
      file: fileIn(context, file.filePath),
      ...(problem.line ? { line: problem.line } : {}),
      ...(problem.column ? { column: problem.column } : {}),
      message: problem.message,
      ...(problem.ruleId ? { rule: problem.ruleId } : {}),
    })),
  );
}

import type { Ecosystem } from '../toolchain.ts';
import { isNeutral, type CommandPlan, type Invocation } from './invocations.ts';
import type { Word } from './shell.ts';

/** A check a known tool makes, found in the command: where it runs, on what, with which options. */
export interface ToolCheck {
  tool: 'gofmt' | 'go mod' | 'prettier' | 'eslint' | 'black' | 'isort';
  /** Directory it runs in, relative to the repository root. */
  dir: string;
  /** The options that change what the tool writes, to be given to its fixer too (`gofmt -s`, `--profile`). */
  flags: string[];
  /** Files and directories it checks, as written; empty for the tool's default. */
  paths: string[];
}

const ECOSYSTEMS: Record<Ecosystem, string> = {
  node: 'node npm npx pnpm yarn bun bunx corepack prettier eslint tsc vitest jest mocha ava biome vite next turbo nx lerna stylelint markdownlint tsx ts-node',
  python:
    'pip pip3 pytest py.test black isort flake8 mypy ruff pylint tox nox autopep8 autoflake pyright bandit coverage poetry uv pipenv pdm hatch',
  go: 'go gofmt goimports golangci-lint staticcheck gotestsum gofumpt',
};
const ECOSYSTEM_OF = new Map(
  Object.entries(ECOSYSTEMS).flatMap(([ecosystem, names]) =>
    names.split(' ').map((name) => [name, ecosystem as Ecosystem] as const),
  ),
);

/**
 * The ecosystems a check needs, from the programs it runs; undefined when something it runs cannot be
 * seen into (a binary, an unreadable script), and then every ecosystem of the repository is installed.
 */
export function ecosystemsOf(plan: CommandPlan): Set<Ecosystem> | undefined {
  if (plan.opaque.length > 0) return undefined;
  const needed = new Set<Ecosystem>();
  for (const { words } of plan.invocations) {
    const name = words[0]!.text;
    const ecosystem = /^python(\d+(\.\d+)?)?$/.test(name) ? 'python' : ECOSYSTEM_OF.get(name);
    if (ecosystem) needed.add(ecosystem);
    else if (!isNeutral(name)) return undefined;
  }
  return needed;
}

/** Flags a tool takes a value for; `keep` are the ones that change its output, passed on to its fixer. */
interface FlagSpec {
  valued: string[];
  keep: string[];
}
const FLAGS: Record<'black' | 'isort' | 'prettier' | 'eslint', FlagSpec> = {
  black: {
    valued:
      '-l --line-length -t --target-version --config --include --exclude --extend-exclude --force-exclude --required-version -W --workers --python-cell-magics --stdin-filename'.split(
        ' ',
      ),
    keep: '-l --line-length -t --target-version --config -S --skip-string-normalization -C --skip-magic-trailing-comma --preview --pyi'.split(
      ' ',
    ),
  },
  isort: {
    valued:
      '--profile -l --line-length -w --line-width --settings-path --sp --settings-file --settings -m --multi-line -p --project -o --thirdparty -s --skip --sg --skip-glob --src --src-path --extend-skip --virtual-env -j --jobs -a --add-import --py --python-version'.split(
        ' ',
      ),
    keep: '--profile -l --line-length -w --line-width --settings-path --sp --settings-file --settings -m --multi-line -p --project -o --thirdparty --src --src-path --py --python-version --tc --trailing-comma --sl --force-single-line-imports --ca --combine-as --float-to-top --up --use-parentheses'.split(
      ' ',
    ),
  },
  prettier: {
    valued:
      '--config --ignore-path --log-level --loglevel --plugin --parser --stdin-filepath --cache-location --cache-strategy --config-precedence'.split(
        ' ',
      ),
    keep: ['--config'],
  },
  eslint: {
    valued:
      '-c --config -f --format -o --output-file --max-warnings --ext --rule --rulesdir --plugin --parser --parser-options --env --global --ignore-path --ignore-pattern --cache-location --cache-strategy --resolve-plugins-relative-to --report-unused-disable-directives-severity --flag'.split(
        ' ',
      ),
    // What decides which rules apply; `--max-warnings`, the format and the output file only change the report.
    keep: '-c --config --no-config-lookup --no-eslintrc --rule --rulesdir --plugin --parser --parser-options --env --global --ext'.split(
      ' ',
    ),
  },
};

/** The checks of known tools a command makes, in the order it makes them. */
export function toolChecks(plan: CommandPlan): ToolCheck[] {
  return plan.invocations.flatMap((invocation) => {
    const check = toolCheck(invocation);
    return check ? [check] : [];
  });
}

function toolCheck({ words, dir }: Invocation): ToolCheck | undefined {
  const [program, ...args] = words;
  const name = program!.text;
  if (name === 'gofmt') {
    const paths = args.filter((arg) => !arg.text.startsWith('-'));
    return {
      tool: 'gofmt',
      dir,
      flags: args.some((arg) => arg.text === '-s') ? ['-s'] : [],
      paths: literal(paths),
    };
  }
  if (name === 'go' && args[0]?.text === 'fmt') {
    // `go fmt ./...` is `gofmt -l -w` on the packages' directories.
    const packages = literal(args.slice(1).filter((arg) => !arg.text.startsWith('-')));
    const paths = packages
      .map((pkg) => pkg.replace(/\/?\.\.\.$/, '') || '.')
      .filter((pkg) => pkg.startsWith('.'));
    return { tool: 'gofmt', dir, flags: [], paths };
  }
  if (name === 'go' && args[0]?.text === 'mod' && ['tidy', 'verify'].includes(args[1]?.text ?? ''))
    return { tool: 'go mod', dir, flags: [], paths: [] };
  if (name === 'black' || name === 'isort' || name === 'prettier' || name === 'eslint') {
    const { flags, paths } = splitArgs(args, FLAGS[name]);
    return { tool: name, dir, flags, paths };
  }
  return undefined;
}

function literal(words: Word[]): string[] {
  return words.every((word) => word.literal) ? words.map((word) => word.text) : [];
}

/** Options that change the output (kept, with their values) and the paths a tool was given. */
function splitArgs(args: Word[], spec: FlagSpec): { flags: string[]; paths: string[] } {
  const flags: string[] = [];
  const paths: Word[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg.text === '--') {
      paths.push(...args.slice(index + 1));
      break;
    }
    if (!arg.text.startsWith('-')) {
      paths.push(arg);
      continue;
    }
    const [flag, inline] = arg.text.split(/=(.*)/s);
    const valued = spec.valued.includes(flag!) && inline === undefined;
    const value = valued ? args[++index] : undefined;
    if (!spec.keep.includes(flag!) || !arg.literal || (value && !value.literal)) continue;
    flags.push(arg.text, ...(value ? [value.text] : []));
  }
  return { flags, paths: literal(paths) };
}

/** The options of the first check of a tool, for its fixer. */
export function flagsFor(checks: readonly ToolCheck[], tool: ToolCheck['tool']): string[] {
  return checks.find((check) => check.tool === tool)?.flags ?? [];
}

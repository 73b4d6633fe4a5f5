import path from 'node:path';
import type { ChatCompletionTool } from 'openai/resources/chat/completions';
import type { ExecResult, Sandbox } from '@ci-fixer/sandbox';

/** What the agent's tools act on: the sandbox, and the engine's recorded command runner. */
export interface ToolHost {
  sandbox: Sandbox;
  /** Runs argv in the working directory as a recorded step. */
  run(argv: string[]): Promise<ExecResult>;
  signal?: AbortSignal;
}

export class ToolError extends Error {}

const MAX_TOOL_OUTPUT = 12_000;
const MAX_READ_LINES = 400;

const object = (properties: Record<string, unknown>, required: string[]) => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});
const fn = (name: string, description: string, parameters: Record<string, unknown>): ChatCompletionTool => ({
  type: 'function',
  function: { name, description, parameters },
});

export const TOOL_DEFINITIONS: ChatCompletionTool[] = [
  fn(
    'list_files',
    'List files in the repository (tracked and untracked, ignoring what .gitignore ignores).',
    object(
      {
        path: { type: 'string', description: 'Directory relative to the repository root; default the root.' },
      },
      [],
    ),
  ),
  fn(
    'read_file',
    `Read a file with line numbers; at most ${MAX_READ_LINES} lines per call.`,
    object(
      {
        path: { type: 'string', description: 'Relative to the repository root.' },
        start_line: { type: 'integer', minimum: 1 },
        end_line: { type: 'integer', minimum: 1 },
      },
      ['path'],
    ),
  ),
  fn(
    'search',
    'Search tracked files for a regular expression (git grep -E); returns file:line:text.',
    object({ pattern: { type: 'string' }, path: { type: 'string', description: 'Limit to this path.' } }, [
      'pattern',
    ]),
  ),
  fn(
    'edit_file',
    'Replace one exact occurrence of old_text with new_text. old_text must match the file exactly (whitespace included) and only once; an empty old_text creates a new file.',
    object({ path: { type: 'string' }, old_text: { type: 'string' }, new_text: { type: 'string' } }, [
      'path',
      'old_text',
      'new_text',
    ]),
  ),
  fn(
    'run_command',
    'Run a shell command (bash -c) in the working directory, with a time limit. Returns the exit code and the end of the output.',
    object({ command: { type: 'string' } }, ['command']),
  ),
  fn(
    'finish',
    'Call when the failing command passes. The engine runs it again to check; if it still fails you get its output back.',
    object(
      {
        summary: {
          type: 'string',
          description: 'What was wrong and what you changed, in a sentence or two.',
        },
      },
      ['summary'],
    ),
  ),
];

/** A repository path from the model, refused when it leads out of the repository or into .git. */
export function repoPath(given: unknown): string {
  if (typeof given !== 'string' || given.trim() === '')
    throw new ToolError('path must be a non-empty string');
  if (path.posix.isAbsolute(given))
    throw new ToolError(`path ${given} must be relative to the repository root`);
  const normalized = path.posix.normalize(given);
  if (normalized === '..' || normalized.startsWith('../'))
    throw new ToolError(`path ${given} is outside the repository`);
  if (normalized === '.git' || normalized.startsWith('.git/'))
    throw new ToolError('the .git directory is off limits');
  return normalized;
}

export async function listFiles(host: ToolHost, dir: unknown): Promise<string> {
  const target = dir === undefined || dir === '' ? '.' : repoPath(dir);
  const result = await host.sandbox.exec(
    ['git', 'ls-files', '--cached', '--others', '--exclude-standard', '--', target],
    host.signal ? { signal: host.signal } : {},
  );
  const files = result.stdout.split('\n').filter(Boolean);
  if (files.length === 0) return `no files under ${target}`;
  return truncate(
    files.slice(0, 500).join('\n') + (files.length > 500 ? `\n… ${files.length - 500} more` : ''),
  );
}

export async function readFile(host: ToolHost, file: unknown, start: unknown, end: unknown): Promise<string> {
  const target = repoPath(file);
  const text = (
    await host.sandbox.readFile(target).catch(() => {
      throw new ToolError(`cannot read ${target}: no such file (use list_files to see what exists)`);
    })
  ).toString('utf8');
  const lines = text.split('\n');
  const from = Math.max(1, typeof start === 'number' ? Math.floor(start) : 1);
  const to = Math.min(
    lines.length,
    typeof end === 'number' ? Math.floor(end) : from + MAX_READ_LINES - 1,
    from + MAX_READ_LINES - 1,
  );
  if (from > lines.length) throw new ToolError(`${target} has only ${lines.length} lines`);
  const numbered = lines.slice(from - 1, to).map((line, index) => `${from + index}\t${line}`);
  const more = to < lines.length ? `\n… lines ${to + 1}-${lines.length} not shown` : '';
  return truncate(`${target} (lines ${from}-${to} of ${lines.length})\n${numbered.join('\n')}${more}`);
}

export async function search(host: ToolHost, pattern: unknown, dir: unknown): Promise<string> {
  if (typeof pattern !== 'string' || !pattern) throw new ToolError('pattern must be a non-empty string');
  const target = dir === undefined || dir === '' ? '.' : repoPath(dir);
  const result = await host.sandbox.exec(
    ['git', 'grep', '-n', '-I', '-E', '-e', pattern, '--', target],
    host.signal ? { signal: host.signal } : {},
  );
  if (result.exitCode === 1) return 'no matches';
  if (result.exitCode !== 0) throw new ToolError(`search failed: ${result.stderr.trim()}`);
  const lines = result.stdout.split('\n').filter(Boolean);
  return truncate(
    lines.slice(0, 200).join('\n') + (lines.length > 200 ? `\n… ${lines.length - 200} more matches` : ''),
  );
}

/** Exact search and replace, with errors that tell the model how to recover. */
export async function editFile(
  host: ToolHost,
  file: unknown,
  oldText: unknown,
  newText: unknown,
): Promise<{ message: string; path: string }> {
  const target = repoPath(file);
  if (typeof oldText !== 'string' || typeof newText !== 'string')
    throw new ToolError('old_text and new_text must be strings');
  const existing = await host.sandbox.readFile(target).then(
    (buffer) => buffer.toString('utf8'),
    () => undefined,
  );
  if (oldText === '') {
    if (existing !== undefined)
      throw new ToolError(`${target} exists; to change it, give the exact old_text to replace`);
    await host.sandbox.writeFile(target, newText);
    return { message: `created ${target}`, path: target };
  }
  if (existing === undefined) throw new ToolError(`cannot edit ${target}: no such file`);
  const count = existing.split(oldText).length - 1;
  if (count === 0) {
    throw new ToolError(
      `old_text was not found in ${target}. Read the file again and copy the text exactly, whitespace included.`,
    );
  }
  if (count > 1) {
    throw new ToolError(
      `old_text matches ${count} places in ${target}; include more surrounding lines so it matches once.`,
    );
  }
  await host.sandbox.writeFile(
    target,
    existing.replace(oldText, () => newText),
  );
  return { message: `edited ${target}`, path: target };
}

export async function runCommand(host: ToolHost, command: unknown): Promise<string> {
  if (typeof command !== 'string' || !command.trim())
    throw new ToolError('command must be a non-empty string');
  const result = await host.run(['bash', '-c', command]);
  return formatResult(result);
}

export function formatResult(result: ExecResult): string {
  const status = result.timedOut ? 'timed out' : `exit code ${result.exitCode}`;
  return truncate(`${status}\n${result.stdout}\n${result.stderr}`.trim(), true);
}

/** Long output keeps its end, where errors and summaries are. */
function truncate(text: string, keepEnd = false): string {
  if (text.length <= MAX_TOOL_OUTPUT) return text;
  return keepEnd
    ? `… (${text.length - MAX_TOOL_OUTPUT} characters cut)\n${text.slice(-MAX_TOOL_OUTPUT)}`
    : `${text.slice(0, MAX_TOOL_OUTPUT)}\n… (${text.length - MAX_TOOL_OUTPUT} characters cut)`;
}

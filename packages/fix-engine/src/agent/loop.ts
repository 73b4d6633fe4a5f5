import OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { AgentUsage, Diagnosis, FixRequest } from '@ci-fixer/contract';
import {
  editFile,
  formatResult,
  listFiles,
  readFile,
  runCommand,
  search,
  TOOL_DEFINITIONS,
  ToolError,
  type ToolHost,
} from './tools.ts';

export interface AgentOptions {
  /** An OpenAI-compatible endpoint (OpenAI, a gateway, vLLM, Ollama…). */
  baseURL: string;
  apiKey: string;
  model: string;
  /** Model turns before the agent gives up. */
  maxSteps: number;
  /** Prompt plus completion tokens, summed over turns. */
  maxTokens: number;
  /** Wall-clock limit for the whole agent run, model calls and commands included. */
  maxWallMs: number;
  /** Retries of a failed model call (429, 5xx, timeouts), with the SDK's exponential backoff. */
  maxRetries?: number;
  /** Limit for one model call. */
  requestTimeoutMs?: number;
}

export interface AgentTask {
  request: FixRequest;
  diagnosis: Diagnosis;
  failureOutput: string;
  /** The working directory, relative to the repository root. */
  cwd: string;
  tools: ToolHost;
}

export interface AgentRun {
  usage: AgentUsage;
  /** Why it stopped, for the job's reason. */
  summary: string;
  /** Files the agent edited through edit_file. */
  edited: Set<string>;
}

const MAX_BAD_CALLS = 3;
const FAILURE_CHARS = 8000;

/**
 * The LLM fallback: a chat-completions loop with tools that act on the sandbox. It stops when the model
 * calls `finish` and the command really passes, or when a budget runs out; the engine then checks the diff
 * against the guardrails and verifies it like any other fix.
 */
export async function runAgent(options: AgentOptions, task: AgentTask): Promise<AgentRun> {
  const client = new OpenAI({
    baseURL: options.baseURL,
    apiKey: options.apiKey,
    maxRetries: options.maxRetries ?? 3,
    timeout: options.requestTimeoutMs ?? 120_000,
  });
  const deadline = Date.now() + options.maxWallMs;
  const usage: AgentUsage = {
    model: options.model,
    steps: 0,
    promptTokens: 0,
    completionTokens: 0,
    stoppedBecause: 'step budget',
  };
  const edited = new Set<string>();
  const messages: ChatCompletionMessageParam[] = [
    { role: 'system', content: systemPrompt() },
    { role: 'user', content: taskPrompt(task) },
  ];
  const stop = (stoppedBecause: string, summary: string): AgentRun => {
    usage.stoppedBecause = stoppedBecause;
    return { usage, summary: redact(summary, options.apiKey), edited };
  };
  let badCalls = 0;

  while (usage.steps < options.maxSteps) {
    if (Date.now() >= deadline)
      return stop('time budget', `ran out of time after ${usage.steps} model turns`);
    if (usage.promptTokens + usage.completionTokens >= options.maxTokens) {
      return stop(
        'token budget',
        `used its token budget (${options.maxTokens}) after ${usage.steps} model turns`,
      );
    }
    usage.steps++;
    let reply: OpenAI.Chat.Completions.ChatCompletion;
    try {
      const signals = [AbortSignal.timeout(Math.max(1, deadline - Date.now()))];
      if (task.tools.signal) signals.push(task.tools.signal);
      reply = await client.chat.completions.create(
        { model: options.model, messages, tools: TOOL_DEFINITIONS, tool_choice: 'auto' },
        { signal: AbortSignal.any(signals) },
      );
    } catch (error) {
      task.tools.signal?.throwIfAborted();
      return stop('provider error', `the model provider failed: ${describeProviderError(error)}`);
    }
    usage.promptTokens += reply.usage?.prompt_tokens ?? 0;
    usage.completionTokens += reply.usage?.completion_tokens ?? 0;
    const message = reply.choices[0]?.message;
    if (!message) {
      if (++badCalls >= MAX_BAD_CALLS)
        return stop('malformed replies', 'the model sent replies without a message');
      continue;
    }
    messages.push({
      role: 'assistant',
      content: message.content ?? null,
      ...(message.tool_calls?.length ? { tool_calls: message.tool_calls } : {}),
    });
    const calls = message.tool_calls ?? [];
    if (calls.length === 0) {
      // A model that answers in prose is told to act; it may not end without `finish`.
      messages.push({ role: 'user', content: 'Use the tools to fix the failure, then call finish.' });
      if (++badCalls >= MAX_BAD_CALLS) return stop('malformed replies', 'the model stopped calling tools');
      continue;
    }
    for (const call of calls) {
      const answer = await handleCall(call, task, edited);
      if (answer.malformed && ++badCalls >= MAX_BAD_CALLS) {
        return stop(
          'malformed tool calls',
          `the model sent ${MAX_BAD_CALLS} malformed tool calls: ${answer.content}`,
        );
      }
      messages.push({ role: 'tool', tool_call_id: call.id, content: answer.content });
      if (answer.done) return stop('done', answer.summary ?? 'the model says the command passes');
    }
  }
  return stop('step budget', `used its step budget (${options.maxSteps} model turns) without a passing fix`);
}

interface CallAnswer {
  content: string;
  malformed?: boolean;
  done?: boolean;
  summary?: string;
}

async function handleCall(
  call: OpenAI.Chat.Completions.ChatCompletionMessageToolCall,
  task: AgentTask,
  edited: Set<string>,
): Promise<CallAnswer> {
  if (call.type !== 'function') return { content: 'only function tools exist here', malformed: true };
  let args: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(call.function.arguments || '{}');
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    args = parsed as Record<string, unknown>;
  } catch {
    return {
      content: `error: the arguments of ${call.function.name} are not a JSON object; send valid JSON`,
      malformed: true,
    };
  }
  const host = task.tools;
  try {
    switch (call.function.name) {
      case 'list_files':
        return { content: await listFiles(host, args.path) };
      case 'read_file':
        return { content: await readFile(host, args.path, args.start_line, args.end_line) };
      case 'search':
        return { content: await search(host, args.pattern, args.path) };
      case 'edit_file': {
        const result = await editFile(host, args.path, args.old_text, args.new_text);
        edited.add(result.path);
        return { content: result.message };
      }
      case 'run_command':
        return { content: await runCommand(host, args.command) };
      case 'finish': {
        const check = await host.run(['bash', '-c', task.request.command]);
        if (check.exitCode !== 0) {
          return { content: `the command still fails, keep going:\n${formatResult(check)}` };
        }
        return { content: 'the command passes', done: true, summary: String(args.summary ?? '') };
      }
      default:
        return { content: `error: there is no tool named ${call.function.name}`, malformed: true };
    }
  } catch (error) {
    if (error instanceof ToolError) return { content: `error: ${error.message}` };
    throw error;
  }
}

function systemPrompt(): string {
  return [
    'You fix a failing CI command in a repository checked out in a sandbox.',
    'Make the smallest change to the code that makes the command pass. Never weaken the check:',
    'do not skip, delete or focus tests, do not add eslint-disable, @ts-ignore, # type: ignore or # noqa,',
    'do not edit CI, lint, format, type-check or test-runner configuration. Such changes are rejected.',
    'Paths in tools are relative to the repository root; commands run in the working directory.',
    'Read before you edit. When the command passes, call finish.',
  ].join('\n');
}

function taskPrompt(task: AgentTask): string {
  const findings = task.diagnosis.findings
    .slice(0, 30)
    .map(
      (f) =>
        `- [${f.category}/${f.tool}${f.rule ? ` ${f.rule}` : ''}] ${f.file ?? '?'}${f.line ? `:${f.line}` : ''} ${f.message}`,
    )
    .join('\n');
  const output =
    task.failureOutput.length > FAILURE_CHARS ? task.failureOutput.slice(-FAILURE_CHARS) : task.failureOutput;
  return [
    `Failing command: ${task.request.command}`,
    `Working directory: ${task.cwd || '(repository root)'}`,
    `Diagnosis: ${task.diagnosis.summary}`,
    findings,
    'End of the output:',
    output,
  ].join('\n');
}

/** One line for the job's reason; the SDK's errors carry status and message, never the key. */
function describeProviderError(error: unknown): string {
  if (error instanceof OpenAI.APIConnectionTimeoutError) return 'the request timed out after retries';
  if (error instanceof OpenAI.APIUserAbortError) return 'the agent ran out of time waiting for the model';
  if (error instanceof OpenAI.APIError) {
    const status = error.status ? `HTTP ${error.status}` : 'no response';
    const hint =
      error.status === 429
        ? ' (rate limited; retried with backoff)'
        : error.status && error.status >= 500
          ? ' (server error; retried with backoff)'
          : error.status === 401
            ? ' (check LLM_API_KEY)'
            : '';
    return `${status}${hint}: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

function redact(text: string, secret: string): string {
  return secret ? text.split(secret).join('[redacted]') : text;
}

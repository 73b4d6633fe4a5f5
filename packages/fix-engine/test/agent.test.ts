import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCase } from '../corpus/build.ts';
import { CASES } from '../corpus/cases.ts';
import { runCase } from '../eval/run-case.ts';
import type { AgentOptions } from '../src/agent/loop.ts';
import { lastToolResult, startFakeLlm, type Script } from './helpers/fake-llm.ts';

// The agent against a local HTTP server standing in for the LLM provider (scripted replies), through the
// real `openai` SDK, in a real LocalDriver sandbox on a generated repository whose test fails.
const API_KEY = 'sk-test-key-that-must-never-appear-0123456789';
const failing = CASES.find((c) => c.name === 'js-node-test-failure')!;
let work: string;
let repo: string;

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'ci-fixer-agent-'));
  repo = buildCase(failing, work, path.join(work, 'npm-cache'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function fixWith(script: Script, budget: Partial<AgentOptions> = {}) {
  const llm = await startFakeLlm(script);
  try {
    const agent: AgentOptions = {
      baseURL: llm.baseURL,
      apiKey: API_KEY,
      model: 'scripted-model',
      maxSteps: 10,
      maxTokens: 100_000,
      maxWallMs: 60_000,
      maxRetries: 2,
      ...budget,
    };
    const run = await runCase(failing, repo, { agent });
    return { ...run, requests: llm.requests };
  } finally {
    await llm.close();
  }
}

const fixSum = { path: 'src/sum.js', old_text: 'a - b', new_text: 'a + b' };

describe('the fix agent', () => {
  it('reads, edits, runs the tests and finishes: a verified fix', async () => {
    const steps = [
      { name: 'list_files', arguments: {} },
      { name: 'read_file', arguments: { path: 'src/sum.js' } },
      { name: 'search', arguments: { pattern: 'sum\\(' } },
      { name: 'edit_file', arguments: fixSum },
      { name: 'run_command', arguments: { command: 'node --test' } },
      { name: 'finish', arguments: { summary: 'sum subtracted instead of adding' } },
    ];
    const run = await fixWith((_request, turn) => {
      if (turn > steps.length) throw new Error(`turn ${turn} is past the script`);
      return { toolCalls: [steps[turn - 1]!] };
    });
    expect(run.result.reason).not.toMatch(/fake provider/);
    expect(run.result.outcome).toBe('fixed');
    expect(run.verified).toBe(true);
    expect(run.result.strategy).toBe('agent');
    expect(run.result.patch).toContain('+export const sum = (a, b) => a + b;');
    expect(run.result.agent).toMatchObject({ model: 'scripted-model', steps: 6, stoppedBecause: 'done' });
    // What the tools answered reached the model: the listing, the numbered file, the grep hit, the run.
    expect(run.requests[1]!.messages.at(-1)!.content).toContain('src/sum.js');
    expect(run.requests[2]!.messages.at(-1)!.content).toContain('1\texport const sum = (a, b) => a - b;');
    expect(run.requests[3]!.messages.at(-1)!.content).toContain('test/sum.test.js:5:');
    expect(run.requests[5]!.messages.at(-1)!.content).toMatch(/^exit code 0/);
    expect(run.requests[0]!.authorization).toBe(`Bearer ${API_KEY}`);
    expect(JSON.stringify(run.result)).not.toContain(API_KEY);
  });

  it('tells the model when old_text does not match, and the model recovers', async () => {
    const run = await fixWith((request, turn) => {
      if (turn === 1)
        return { toolCalls: [{ name: 'edit_file', arguments: { ...fixSum, old_text: 'a-b' } }] };
      if (turn === 2) {
        expect(lastToolResult(request)).toMatch(/old_text was not found in src\/sum\.js/);
        return {
          toolCalls: [{ name: 'edit_file', arguments: { path: 'src/sum.js', old_text: 'b', new_text: 'c' } }],
        };
      }
      if (turn === 3) {
        expect(lastToolResult(request)).toMatch(/old_text matches \d+ places/);
        return { toolCalls: [{ name: 'edit_file', arguments: fixSum }] };
      }
      return { toolCalls: [{ name: 'finish', arguments: { summary: 'fixed' } }] };
    });
    expect(run.result.outcome).toBe('fixed');
    expect(run.verified).toBe(true);
  });

  it('gives up when the step budget runs out, leaving no patch', async () => {
    const run = await fixWith(() => ({ toolCalls: [{ name: 'list_files', arguments: {} }] }), {
      maxSteps: 3,
    });
    expect(run.result.outcome).toBe('unfixable');
    expect(run.result.patch).toBeNull();
    expect(run.result.agent).toMatchObject({ steps: 3, stoppedBecause: 'step budget' });
    expect(run.requests).toHaveLength(3);
  });

  it('gives up when the token budget runs out', async () => {
    const run = await fixWith(() => ({ toolCalls: [{ name: 'list_files', arguments: {} }], tokens: 6000 }), {
      maxTokens: 10_000,
    });
    expect(run.result.agent).toMatchObject({ steps: 2, stoppedBecause: 'token budget' });
    expect(run.result.reason).toMatch(/token budget/);
  });

  it('rejects a fix that deletes the failing test, even though the command then passes', async () => {
    const run = await fixWith((_request, turn) =>
      turn === 1
        ? {
            toolCalls: [
              {
                name: 'run_command',
                arguments: { command: 'rm test/sum.test.js' },
              },
            ],
          }
        : { toolCalls: [{ name: 'finish', arguments: { summary: 'removed the failing test' } }] },
    );
    expect(run.result.outcome).toBe('unfixable');
    expect(run.result.reason).toMatch(/deletes the test file test\/sum\.test\.js/);
    expect(run.result.patch).toBeNull();
  });

  it('refuses a path outside the repository', async () => {
    const run = await fixWith((request, turn) => {
      if (turn === 1) return { toolCalls: [{ name: 'read_file', arguments: { path: '../../etc/passwd' } }] };
      expect(lastToolResult(request)).toMatch(/outside the repository/);
      return {
        toolCalls: [
          { name: 'edit_file', arguments: fixSum },
          { name: 'finish', arguments: { summary: 'ok' } },
        ],
      };
    });
    expect(run.result.outcome).toBe('fixed');
  });

  it('stops after repeated malformed tool calls', async () => {
    const run = await fixWith(() => ({
      toolCalls: [{ name: 'edit_file', arguments: '{"path": "src/sum.js", ' }],
    }));
    expect(run.result.outcome).toBe('unfixable');
    expect(run.result.agent?.stoppedBecause).toBe('malformed tool calls');
    expect(run.requests[1]!.messages.at(-1)!.content).toMatch(/not a JSON object/);
  });

  it('retries a rate-limited provider with backoff, then succeeds', async () => {
    const run = await fixWith((_request, turn) => {
      if (turn <= 2) return { status: 429, error: 'rate limited', headers: { 'retry-after-ms': '10' } };
      return turn === 3
        ? { toolCalls: [{ name: 'edit_file', arguments: fixSum }] }
        : { toolCalls: [{ name: 'finish', arguments: { summary: 'ok' } }] };
    });
    expect(run.result.outcome).toBe('fixed');
    expect(run.requests).toHaveLength(4);
  });

  it('reports a provider that stays rate limited, without the key', async () => {
    const run = await fixWith(() => ({
      status: 429,
      error: 'rate limited',
      headers: { 'retry-after-ms': '10' },
    }));
    expect(run.result.outcome).toBe('unfixable');
    expect(run.result.agent?.stoppedBecause).toBe('provider error');
    expect(run.result.reason).toMatch(/HTTP 429 \(rate limited; retried with backoff\)/);
    expect(run.requests).toHaveLength(3); // the first try and maxRetries = 2
    expect(JSON.stringify(run.result)).not.toContain(API_KEY);
  });

  it('reports a provider that keeps failing with 500', async () => {
    const run = await fixWith(() => ({
      status: 500,
      error: 'upstream exploded',
      headers: { 'retry-after-ms': '10' },
    }));
    expect(run.result.outcome).toBe('unfixable');
    expect(run.result.reason).toMatch(/HTTP 500 \(server error; retried with backoff\)/);
    expect(run.requests).toHaveLength(3);
  });
});

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP server standing in for an OpenAI-compatible provider, so that the real `openai` SDK is
 * exercised end to end (HTTP, retries, tool-call parsing) with scripted replies instead of a model.
 */
export interface ChatRequest {
  model: string;
  messages: { role: string; content?: string | null; tool_call_id?: string }[];
  tools?: unknown[];
  authorization: string | undefined;
}

export type Reply =
  | { toolCalls: { name: string; arguments: string | Record<string, unknown> }[]; tokens?: number }
  | { text: string }
  | { status: number; error: string; headers?: Record<string, string> };

export type Script = (request: ChatRequest, turn: number) => Reply;

export interface FakeLlm {
  baseURL: string;
  requests: ChatRequest[];
  close(): Promise<void>;
}

export async function startFakeLlm(script: Script): Promise<FakeLlm> {
  const requests: ChatRequest[] = [];
  const server: Server = createServer((req, res) => {
    void readBody(req).then((body) => {
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        res.writeHead(404).end();
        return;
      }
      const parsed = JSON.parse(body) as Omit<ChatRequest, 'authorization'>;
      const request = { ...parsed, authorization: req.headers.authorization };
      requests.push(request);
      let reply: Reply;
      try {
        reply = script(request, requests.length);
      } catch (error) {
        // A script that cannot answer (an assertion failed, or it ran out of turns) answers 400, which the
        // SDK does not retry, so the run ends at once with the reason in the job's result.
        reply = { status: 400, error: `fake provider: ${(error as Error).message}` };
      }
      if ('status' in reply) {
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(JSON.stringify({ error: { message: reply.error, type: 'scripted' } }));
        return;
      }
      const message =
        'text' in reply
          ? { role: 'assistant', content: reply.text }
          : {
              role: 'assistant',
              content: null,
              tool_calls: reply.toolCalls.map((call, index) => ({
                id: `call_${requests.length}_${index}`,
                type: 'function',
                function: {
                  name: call.name,
                  arguments:
                    typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
                },
              })),
            };
      const tokens = 'toolCalls' in reply ? (reply.tokens ?? 100) : 100;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `chatcmpl-${requests.length}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: parsed.model,
          choices: [{ index: 0, message, finish_reason: 'text' in reply ? 'stop' : 'tool_calls' }],
          usage: { prompt_tokens: tokens - 20, completion_tokens: 20, total_tokens: tokens },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The last tool result the engine sent back to the model. */
export function lastToolResult(request: ChatRequest): string {
  return [...request.messages].reverse().find((message) => message.role === 'tool')?.content ?? '';
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

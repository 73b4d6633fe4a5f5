import { PassThrough } from 'node:stream';
import { createLogger, type Logger } from '@ci-fixer/logger';

/** A real logger whose JSON lines are kept for assertions instead of printed. */
export function captureLogger(service = 'test'): { logger: Logger; lines: () => string[] } {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  return { logger: createLogger({ service, level: 'debug', stream }), lines: () => lines };
}

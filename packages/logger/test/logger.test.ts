import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactText, REDACTED } from '../src/index.ts';

function logged(write: (logger: ReturnType<typeof createLogger>) => void): Record<string, unknown> {
  const stream = new PassThrough();
  const logger = createLogger({ service: 'test', stream });
  write(logger);
  return JSON.parse(stream.read().toString().trim().split('\n').at(-1)!);
}

describe('logger', () => {
  it('writes one JSON object per line with service, level and child metadata', () => {
    const line = logged((logger) =>
      logger.child({ jobId: 'fx-1' }).info('fix started', { stage: 'cloning' }),
    );
    expect(line).toMatchObject({
      service: 'test',
      level: 'info',
      message: 'fix started',
      jobId: 'fx-1',
      stage: 'cloning',
    });
    expect(typeof line.timestamp).toBe('string');
  });

  it('withholds values under secret-looking keys, however deep', () => {
    const line = logged((logger) =>
      logger.info('config', {
        apiToken: 'abc',
        nested: { password: 'p', headers: { Authorization: 'Bearer x' } },
        count: 2,
      }),
    );
    expect(line).toMatchObject({
      apiToken: REDACTED,
      nested: { password: REDACTED, headers: { Authorization: REDACTED } },
      count: 2,
    });
  });

  it('redacts credentials inside messages, errors and URLs', () => {
    const line = logged((logger) =>
      logger.error(
        'clone of https://x-access-token:ghs_abcdefghijklmnopqrstuvwxyz0123@github.com/a/b failed',
        {
          error: new Error('fatal: could not read https://oauth2:glpat-abcdefghijklmnopqrst@gitlab.com/a/b'),
        },
      ),
    );
    const text = JSON.stringify(line);
    expect(text).not.toContain('ghs_abcdefghijklmnopqrstuvwxyz0123');
    expect(text).not.toContain('glpat-abcdefghijklmnopqrst');
    expect(text).toContain(`https://${REDACTED}@github.com/a/b`);
  });
});

describe('redactText', () => {
  it.each([
    ['Authorization: Bearer abcdefghijklmnop', `Authorization: Bearer ${REDACTED}`],
    ['token ghp_0123456789abcdefghijklmnopqrstuv', `token ${REDACTED}`],
    ['key sk-proj-0123456789abcdefghijkl', `key ${REDACTED}`],
    ['nothing secret here', 'nothing secret here'],
  ])('%s', (input, output) => {
    expect(redactText(input)).toBe(output);
  });
});

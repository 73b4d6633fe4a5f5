import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { addSecretValues, createLogger, redact, redactText, REDACTED } from '../src/index.ts';

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
    ['REDIS_URL=rediss://:Pa55word-xyz@redis:6380/0', `REDIS_URL=rediss://${REDACTED}@redis:6380/0`],
    ['Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hzX3h4eA==', `Authorization: Basic ${REDACTED}`],
    [
      'GET /api/v4/projects?private_token=abc123xyz&per_page=5',
      `GET /api/v4/projects?private_token=${REDACTED}&per_page=5`,
    ],
    ['https://h/x?access_token=abc123xyz', `https://h/x?access_token=${REDACTED}`],
    ['CI_JOB_TOKEN glcbt-64_abcdefghijklmnopqrstu', `CI_JOB_TOKEN ${REDACTED}`],
    ['deploy gldt-abcdefghijklmnopqrstuvwx', `deploy ${REDACTED}`],
    ['jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMjM0NSJ9.c2lnbmF0dXJlLWJ5dGVz done', `jwt ${REDACTED} done`],
    [
      'key: -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY----- end',
      `key: ${REDACTED} end`,
    ],
  ])('%s', (input, output) => {
    expect(redactText(input)).toBe(output);
  });
});

describe('redact', () => {
  it('has no depth limit, and survives cycles', () => {
    let deep: Record<string, unknown> = { url: 'https://u:ghp_0123456789abcdefghijklmnop@h/r' };
    for (let level = 0; level < 40; level++) deep = { inner: deep };
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const text = JSON.stringify(redact({ deep, cyclic }));
    expect(text).not.toContain('ghp_0123456789abcdefghijklmnop');
    expect(text).toContain('[Circular]');
  });

  it("replaces the configured secrets' exact values wherever they appear", () => {
    const secret = 'plain-looking-secret-value-42';
    expect(redactText(`echo ${secret}`)).toBe(`echo ${secret}`);
    addSecretValues([secret, 'short', undefined]);
    expect(redactText(`echo ${secret}`)).toBe(`echo ${REDACTED}`);
    expect(redactText('a short word')).toBe('a short word');
    const line = logged((logger) =>
      logger.warn(`step printed ${secret}`, {
        steps: [{ logTail: `x${secret}y` }],
        error: new Error(secret),
      }),
    );
    expect(JSON.stringify(line)).not.toContain(secret);
  });
});

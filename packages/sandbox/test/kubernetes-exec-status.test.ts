/**
 * How the kubernetes driver reads exec statuses and passes environments. The dev cluster's fake node only
 * ever answers in kwok's form; the real-kubelet form below is the one documented in docs/dev-cluster.md.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { exitCodeOf, exportLines } from '../src/kubernetes/exec.ts';

describe('exit codes from the exec status channel', () => {
  it.each([
    ['success', { status: 'Success' }, 0],
    [
      'a real kubelet (NonZeroExitCode with an ExitCode cause)',
      {
        status: 'Failure',
        message:
          'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: '3' }] },
      },
      3,
    ],
    [
      'kwok (InternalError wrapping the exit status)',
      {
        status: 'Failure',
        message:
          'Internal error occurred: Internal error occurred: error executing command in container: cmd wait: sh -c echo hi; exit 3: exit status 3',
        reason: 'InternalError',
        code: 500,
      },
      3,
    ],
    [
      'kwok, stderr appended to the message',
      { status: 'Failure', reason: 'InternalError', message: '… cmd wait: sh -c x: exit status 7\noops\n' },
      7,
    ],
    [
      'kwok, killed by a signal',
      { status: 'Failure', reason: 'InternalError', message: '… cmd wait: sh -c kill -9 $$: signal: killed' },
      137,
    ],
    [
      'kwok, terminated by a signal',
      { status: 'Failure', reason: 'InternalError', message: '… cmd wait: sh -c x: signal: terminated' },
      143,
    ],
  ])('%s', (_name, status, code) => {
    expect(exitCodeOf(status)).toBe(code);
  });

  it.each([
    [
      'a command that could not start',
      {
        status: 'Failure',
        reason: 'InternalError',
        message: '… cmd start: /x: fork/exec /x: no such file or directory',
      },
    ],
    ['a refusal', { status: 'Failure', reason: 'Forbidden', code: 403, message: 'pods "x" is forbidden: ' }],
  ])('treats %s as an infrastructure failure, not an exit code', (_name, status) => {
    expect(exitCodeOf(status)).toBeUndefined();
  });
});

describe('environment passed on stdin', () => {
  it('survives quotes, newlines, dollars and backticks byte for byte in sh', () => {
    const value = `it's "quoted" $HOME \`id\` \\ \n second line '' end`;
    const script = `${exportLines({ TRICKY: value, EMPTY: '' })}printf %s "$TRICKY"; printf '|%s|' "$EMPTY"`;
    expect(execFileSync('sh', ['-c', script], { encoding: 'utf8', env: {} })).toBe(`${value}||`);
  });

  it('refuses a variable name that is not one', () => {
    expect(() => exportLines({ 'A;rm -rf /': 'x' })).toThrow(/not a valid environment variable name/);
  });
});

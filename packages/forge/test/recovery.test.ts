import { describe, expect, it } from 'vitest';
import {
  condenseLog,
  findFailingStep,
  findGitLabJob,
  reproductionCommand,
  retryDelay,
  shellFromLog,
  suggestionsFromPatch,
} from '../src/index.ts';
import { GITHUB_FORMAT_LOG, GITLAB_CI, WORKFLOW } from '../../../test/support/forge-standin/fixtures.ts';

const policy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 10_000 };

describe('retryDelay', () => {
  it('backs off on 5xx and gives up when the tries are spent', () => {
    expect(retryDelay(502, {}, 1, policy)).toBe(100);
    expect(retryDelay(503, {}, 3, policy)).toBe(400);
    expect(retryDelay(500, {}, 4, policy)).toBeUndefined();
  });
  it('honours retry-after on secondary rate limits and 429', () => {
    expect(retryDelay(403, { 'retry-after': '2' }, 1, policy)).toBe(2000);
    expect(retryDelay(429, { 'retry-after': '3' }, 1, policy)).toBe(3000);
    expect(retryDelay(429, { 'retry-after': '60' }, 1, policy)).toBeUndefined();
  });
  it('waits for the primary rate limit reset', () => {
    const now = 1_700_000_000_000;
    const reset = String(now / 1000 + 5);
    expect(
      retryDelay(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset }, 1, policy, now),
    ).toBe(6000);
  });
  it('treats other 4xx as permanent', () => {
    for (const status of [400, 401, 403, 404, 422]) expect(retryDelay(status, {}, 1, policy)).toBeUndefined();
  });
});

describe('findFailingStep (GitHub)', () => {
  it('recovers the run command and the job default shell of the failing step', () => {
    const match = findFailingStep(WORKFLOW, 'Format check', 'Check formatting', GITHUB_FORMAT_LOG);
    expect(match).toEqual({
      ok: true,
      jobKey: 'format',
      stepName: 'Check formatting',
      step: { script: 'npx prettier --check src', shell: 'bash' },
    });
  });

  it('matches matrix job names, default step names and working directories', () => {
    const workflow = `defaults:
  run:
    working-directory: web
jobs:
  test:
    name: Test on \${{ matrix.node }}
    strategy: { matrix: { node: [22, 24] } }
    steps:
      - run: |
          npm ci
          npm test
        shell: sh
`;
    const match = findFailingStep(workflow, 'Test on 24', 'Run npm ci', '');
    expect(match).toMatchObject({
      ok: true,
      step: { script: 'npm ci\nnpm test\n', shell: 'sh', workingDirectory: 'web' },
    });
  });

  it('prefers the script the log rendered when the workflow has expressions', () => {
    const workflow = `jobs:\n  t:\n    steps:\n      - name: Shard\n        run: npm test -- --shard=\${{ matrix.shard }}\n`;
    const log = [
      '##[group]Run npm test -- --shard=2',
      'npm test -- --shard=2',
      'shell: /usr/bin/bash -e {0}',
      '##[endgroup]',
      'boom',
      '##[error]Process completed with exit code 1.',
    ].join('\n');
    expect(findFailingStep(workflow, 't', 'Shard', log)).toMatchObject({
      ok: true,
      step: { script: 'npm test -- --shard=2', shell: 'default' },
    });
  });

  it('says why an action step cannot be reproduced', () => {
    const match = findFailingStep(WORKFLOW, 'build', 'Deploy preview', '');
    expect(match).toEqual({
      ok: false,
      reason: expect.stringMatching(/runs the action example\/deploy-action@v1/),
    });
  });

  it('falls back to the log when the job is not in the workflow', () => {
    const match = findFailingStep('jobs: {}\n', 'ghost', undefined, GITHUB_FORMAT_LOG);
    expect(match).toMatchObject({ ok: true, step: { script: 'npx prettier --check src', shell: 'bash' } });
  });

  it('maps runner shell lines to workflow shells', () => {
    expect(shellFromLog('/usr/bin/bash -e {0}')).toBe('default');
    expect(shellFromLog('/usr/bin/bash --noprofile --norc -e -o pipefail {0}')).toBe('bash');
    expect(shellFromLog('/opt/hostedtoolcache/Python/3.12.1/x64/bin/python {0}')).toBe('python {0}');
  });
});

describe('findGitLabJob', () => {
  it('joins the default before_script and the job script, following extends', () => {
    expect(findGitLabJob(GITLAB_CI, 'format')).toEqual({
      ok: true,
      step: { script: 'node --version\nnpx prettier --check src', shell: 'gitlab' },
    });
    expect(findGitLabJob(GITLAB_CI, 'format 2/3')).toMatchObject({ ok: true });
  });
  it('says when the job is not in the file', () => {
    expect(findGitLabJob(GITLAB_CI, 'deploy')).toEqual({
      ok: false,
      reason: expect.stringMatching(/not defined/),
    });
  });
});

describe('reproductionCommand', () => {
  it('applies the working directory and shell semantics', () => {
    expect(reproductionCommand({ script: 'make', workingDirectory: "it's here" })).toEqual({
      ok: true,
      command: "cd -- 'it'\\''s here'\nset -e\nmake",
    });
    const python = reproductionCommand({ script: 'print(1)', shell: 'python' });
    expect(python.ok && python.command).toMatch(
      /<<'CI_FIXER_STEP_SCRIPT'\nprint\(1\)\nCI_FIXER_STEP_SCRIPT\npython "\$step_script"$/,
    );
  });
  it('refuses expressions and shells it cannot run', () => {
    expect(reproductionCommand({ script: 'echo ${{ secrets.X }}' }).ok).toBe(false);
    expect(reproductionCommand({ script: 'x', shell: 'cmd' }).ok).toBe(false);
  });
});

describe('condenseLog', () => {
  it('drops timestamps, colours, section markers and progress noise', () => {
    const log = condenseLog(
      '2026-01-10T10:00:00.1234567Z \u001b[36;1mhello\u001b[0m\nsection_start:1:step_script\r\u001b[0Kstep\nReceiving objects: 50% (1/2)\n 45% done\nworld',
      10_000,
    );
    expect(log).toBe('hello\nstep\nworld');
  });
  it('keeps error regions and the tail within the budget', () => {
    const noise = Array.from({ length: 2000 }, (_, i) => `compiling module ${i}`);
    noise[300] = 'src/a.ts(3,1): error TS2322: Type string is not assignable';
    noise.push('Process completed with exit code 2');
    const log = condenseLog(noise.join('\n'), 4096);
    expect(Buffer.byteLength(log)).toBeLessThanOrEqual(4096 + 200);
    expect(log).toContain('error TS2322');
    expect(log).toContain('Process completed with exit code 2');
    expect(log).toMatch(/… \d+ lines omitted …/);
    expect(log).not.toContain('compiling module 1000\n');
  });
});

describe('suggestionsFromPatch', () => {
  it('turns replaced lines into suggestion ranges on the old file', () => {
    const patch = [
      'diff --git a/src/index.js b/src/index.js',
      '--- a/src/index.js',
      '+++ b/src/index.js',
      '@@ -1,3 +1,2 @@',
      ' // header',
      '-export const answer = {value:42,',
      '-    unit:   "none"}',
      "+export const answer = { value: 42, unit: 'none' };",
      '',
    ].join('\n');
    expect(suggestionsFromPatch(patch)).toEqual([
      {
        path: 'src/index.js',
        startLine: 2,
        endLine: 3,
        replacement: ["export const answer = { value: 42, unit: 'none' };"],
      },
    ]);
  });
  it('anchors a pure insertion on the line before it', () => {
    const patch = ['--- a/x', '+++ b/x', '@@ -4,2 +4,3 @@', ' a', '+b', ' c'].join('\n');
    expect(suggestionsFromPatch(patch)).toEqual([
      { path: 'x', startLine: 4, endLine: 4, replacement: ['a', 'b'] },
    ]);
  });
});

/**
 * How the worker sorts an attempt's failure, with the real forge clients against the forge stand-in
 * answering at HTTP level: what the forge refuses ends the job at once, what it cannot answer now is
 * retried; so are the other failures whose kind the worker decides.
 */
import { UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@ci-fixer/config';
import { openForgeSession, type ForgeSettings } from '@ci-fixer/forge';
import { PermanentError, PlatformError, type ForgeSource } from '@ci-fixer/contract';
import { ForgeStandin } from '../../../test/support/forge-standin/server.ts';
import { forBullMQ, sortFailure, step } from '../src/failure.ts';

const PAT = 'ghp_standinstandinstandinstandin0123';
const GITLAB_PAT = 'glpat-standin-0123456789abcdefghij';
const retry = { attempts: 2, baseDelayMs: 10, maxDelayMs: 100 };
const standin = new ForgeStandin();
let settings: ForgeSettings;

beforeAll(async () => {
  await standin.start();
  standin.github.pat = PAT;
  standin.gitlab.token = GITLAB_PAT;
  settings = {
    github: { apiUrl: standin.url, token: PAT, retry },
    gitlab: { url: standin.url, token: GITLAB_PAT, retry },
    logMaxBytes: 100_000,
    reportMode: 'comment',
    reportOverrides: {},
    rerunFlaky: false,
  };
});
afterAll(() => standin.close());

function source(forge: 'github' | 'gitlab', repo: string): ForgeSource {
  return {
    forge,
    repo,
    ...(forge === 'gitlab' ? { projectId: 77 } : {}),
    fork: false,
    headSha: 'a'.repeat(40),
    headBranch: 'main',
    changeRequests: [],
    runId: 1,
    runAttempt: 1,
    workflowPath: null,
    runUrl: null,
    deliveryId: 'delivery-1',
  };
}

async function failureOf(work: () => Promise<unknown>): Promise<PlatformError | PermanentError> {
  const error = await work().then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeDefined();
  return sortFailure(error);
}

const open = (forge: 'github' | 'gitlab', repo: string, with_ = settings) =>
  step('open the forge session', () => openForgeSession(source(forge, repo), with_));

describe.each(['github', 'gitlab'] as const)('%s', (forge) => {
  const path = forge === 'github' ? /^\/repos\/acme\/app$/ : /^\/api\/v4\/projects\/77$/;

  it('ends the job at once when the repository is not there (404)', async () => {
    const failure = await failureOf(() => open(forge, 'acme/app'));
    expect(failure).toBeInstanceOf(PermanentError);
    expect(failure).toMatchObject({
      kind: 'forge-refused',
      context: { status: 404, step: 'open the forge session' },
    });
    expect(failure.message).toMatch(
      /^could not open the forge session: the forge does not show this resource \(404\)/,
    );
    const handed = forBullMQ(failure);
    expect(handed).toBeInstanceOf(UnrecoverableError);
    expect(handed.message).toBe(failure.message);
    // Asked once: a 404 is the forge's answer, not its bad moment.
    expect(standin.calls('GET', path)).toHaveLength(1);
    standin.requests.length = 0;
  });

  it('ends the job at once when the credentials are refused (401)', async () => {
    const refused = {
      ...settings,
      github: { ...settings.github, token: 'ghp_wrongwrongwrongwrongwrong0000' },
      gitlab: { ...settings.gitlab, token: 'glpat-wrong-0123456789abcdefghij' },
    };
    const failure = await failureOf(() => open(forge, 'acme/app', refused));
    expect(failure).toMatchObject({ kind: 'auth-refused', context: { status: 401 } });
    expect(forBullMQ(failure)).toBeInstanceOf(UnrecoverableError);
    standin.requests.length = 0;
  });

  it('retries the job when the forge keeps answering 500', async () => {
    standin.failNext('GET', path, 500, { times: retry.attempts });
    const failure = await failureOf(() => open(forge, 'acme/app'));
    expect(failure).toBeInstanceOf(PlatformError);
    expect(failure).toMatchObject({ fault: 'forge', context: { status: 500 } });
    // BullMQ gets the error itself: retried with backoff while attempts remain.
    expect(forBullMQ(failure)).toBe(failure);
    expect(standin.calls('GET', path)).toHaveLength(retry.attempts);
    standin.requests.length = 0;
  });
});

describe('failures of other parts', () => {
  it('ends the job at once for a setting that is refused', async () => {
    const failure = await failureOf(async () => loadConfig({ JOB_ATTEMPTS: 'many' }));
    expect(failure).toBeInstanceOf(PermanentError);
    expect(failure).toMatchObject({ kind: 'config' });
    expect(failure.cause).toBeInstanceOf(ConfigError);
  });

  it('retries what nobody sorted, keeping it as the cause', async () => {
    const refused = await failureOf(() => fetch('http://127.0.0.1:1/'));
    expect(refused).toMatchObject({ fault: 'unexpected' });
    expect(forBullMQ(refused)).toBe(refused);
  });
});

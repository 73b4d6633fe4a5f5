import { describe, expect, it } from 'vitest';
import { checkRepoUrl, dedupeKey, fixRequestSchema, type FixRequest } from '../src/index.ts';

const request = (overrides: Partial<FixRequest> = {}): FixRequest => ({
  repo: { url: 'https://github.com/acme/widgets', sha: 'abc1234' },
  command: 'npm test',
  ...overrides,
});

describe('dedupeKey', () => {
  it('is the same for the same repository, commit and command', () => {
    expect(dedupeKey(request())).toBe(dedupeKey(request()));
    expect(
      dedupeKey(request({ repo: { url: 'https://github.com/acme/widgets.git/', sha: 'abc1234' } })),
    ).toBe(dedupeKey(request()));
    expect(dedupeKey(request({ logs: 'different logs' }))).toBe(dedupeKey(request()));
  });

  it('differs when the commit, ref, command or repository differs', () => {
    const base = dedupeKey(request());
    expect(dedupeKey(request({ repo: { url: 'https://github.com/acme/widgets', sha: 'abc1235' } }))).not.toBe(
      base,
    );
    expect(dedupeKey(request({ repo: { url: 'https://github.com/acme/widgets', ref: 'main' } }))).not.toBe(
      base,
    );
    expect(dedupeKey(request({ command: 'npm run lint' }))).not.toBe(base);
    expect(dedupeKey(request({ repo: { url: 'https://github.com/acme/gadgets', sha: 'abc1234' } }))).not.toBe(
      base,
    );
    expect(base).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is taken after the schema normalises the request', () => {
    const parsed = fixRequestSchema.parse({
      repo: { url: ' https://github.com/acme/widgets ', sha: 'ABC1234' },
      command: ' npm test ',
    });
    expect(dedupeKey(parsed)).toBe(dedupeKey(request()));
  });
});

describe('checkRepoUrl', () => {
  const policy = { allowFileRepos: false, allowedHosts: ['github.com', 'git.example.com:8443'] };

  it.each([
    'https://github.com/acme/widgets',
    'https://GitHub.com/acme/widgets.git',
    'ssh://git@github.com/acme/widgets.git',
    'git@github.com:acme/widgets.git',
    'https://git.example.com:8443/team/repo',
  ])('accepts %s', (url) => {
    expect(checkRepoUrl(url, policy)).toMatchObject({ ok: true });
  });

  it.each([
    ['/srv/repos/x', /CI_FIXER_ALLOW_FILE_REPOS=true/],
    ['file:///srv/repos/x', /CI_FIXER_ALLOW_FILE_REPOS=true/],
    ['https://gitlab.com/acme/widgets', /host gitlab.com is not allowed; allowed hosts: github.com/],
    ['http://github.com/acme/widgets', /the http scheme is not accepted/],
    ['git://github.com/acme/widgets', /the git scheme is not accepted/],
    ['https://user:token@github.com/acme/widgets', /credentials in the URL are not accepted/],
    ['--upload-pack=touch /tmp/x', /must not start with "-"/],
    ['not a url', /whitespace/],
    ['ftp://github.com/x', /the ftp scheme/],
    ['github', /not a URL/],
  ])('refuses %s and says why', (url, reason) => {
    const check = checkRepoUrl(url, policy);
    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.reason).toMatch(reason);
  });

  it('accepts local repositories only when allowed', () => {
    expect(checkRepoUrl('/srv/repos/x', { ...policy, allowFileRepos: true })).toMatchObject({ ok: true });
    expect(checkRepoUrl('file:///srv/repos/x', { ...policy, allowFileRepos: true })).toMatchObject({
      ok: true,
    });
  });
});

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { branchName, githubFullName, gitlabPath, sha } from '../src/webhooks/schemas.ts';

// Outside any repository, so that `--branch` cannot expand `@{-1}` from someone's checkout.
const cwd = mkdtempSync(path.join(tmpdir(), 'ci-fixer-ref-format-'));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

/** git's own verdict, for real. */
const gitAccepts = (name: string) =>
  spawnSync('git', ['check-ref-format', '--branch', name], { cwd, stdio: 'ignore' }).status === 0;

describe('branchName agrees with git check-ref-format --branch', () => {
  // Stricter than git on purpose: a lone `@` (git accepts it as a branch name, nothing should use it).
  const stricter = new Set(['@']);
  it.each([
    'main',
    'feature/x',
    'release/1.2',
    'v1.0',
    'refs/merge-requests/1/head',
    'x@y',
    'a#b',
    'ü',
    'a..b',
    '-x',
    'x y',
    'a\tb',
    'a\nb',
    'a.lock',
    'a/b.lock/c',
    'a/.b',
    '.a',
    'a//b',
    'a/',
    '/a',
    'a.',
    '@',
    'a@{b',
    'a~1',
    'a^',
    'a:b',
    'a?',
    'a*',
    'a[b',
    'a\\b',
    'HEAD',
    '--upload-pack=id',
  ])('%j', (name) => {
    const ours = branchName.safeParse(name).success;
    expect(ours).toBe(stricter.has(name) ? false : gitAccepts(name));
  });
});

describe('names and ids', () => {
  it.each([
    ['octo-org/octo-repo', true],
    ['Codertocat/Hello-World', true],
    ['octocat_acme/app', true], // Enterprise Managed User
    ['o/.github', true],
    ['o/..', false],
    ['o/.', false],
    ['-o/r', false],
    ['o/r/x', false],
    ['o', false],
    ['o/r r', false],
  ])('GitHub full name %j → %s', (name, ok) => {
    expect(githubFullName.safeParse(name).success).toBe(ok);
  });

  it.each([
    ['gitlab-org/gitlab-test', true],
    ['group/sub/sub2/project', true],
    ['group/my.project', true],
    ['group/_private', true],
    ['gitlab-org', false],
    ['../../etc', false],
    ['group/-x', false],
    ['group/repo.git', false],
    ['group/repo.atom', false],
    ['group//repo', false],
    [`${Array.from({ length: 21 }, () => 'g').join('/')}/p`, false],
  ])('GitLab path %j → %s', (name, ok) => {
    expect(gitlabPath.safeParse(name).success).toBe(ok);
  });

  it('takes 40-hex SHAs in either case and stores them lower-case', () => {
    expect(sha.parse('3484A3FB816E0859FD6E1CEA078D76385FF50625')).toBe(
      '3484a3fb816e0859fd6e1cea078d76385ff50625',
    );
    for (const bad of ['3484a3fb', `${'a'.repeat(40)}\n`, 'g'.repeat(40), 12345, '--output=/tmp/x']) {
      expect(sha.safeParse(bad).success).toBe(false);
    }
  });
});

/** `ci-fixer fix` as a person runs it: a real process, a real repository, no Redis. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFixtureRepo } from '../support/fixture-repos.ts';

const CLI = path.resolve(import.meta.dirname, '../../apps/cli/src/main.ts');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });

describe('ci-fixer fix', () => {
  it('fixes a repository, shows the stages, and prints the result as JSON', () => {
    const repo = createFixtureRepo('prettier');
    const cli = run('fix', repo.path, '--command', 'npm run format:check', '--json');
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stderr).toContain('▸ Reproducing the failure');
    expect(cli.stderr).toContain('▸ Verifying the fix');
    // The API's names: `status`, as in GET /v1/fix-jobs/:id.
    const result = JSON.parse(cli.stdout) as { status: string; patch: string; baseSha: string };
    expect(result.status).toBe('fixed');
    expect(result).not.toHaveProperty('outcome');
    expect(result.baseSha).toBe(repo.sha);
    expect(result.patch).toContain('+++ b/src/index.js');
  });

  it('needs no Redis: a REDIS_URL meant for the platform, even a malformed one, does not stop it', () => {
    const repo = createFixtureRepo('passing');
    const cli = spawnSync(process.execPath, [CLI, 'fix', repo.path, '--command', 'npm run format:check'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, REDIS_URL: 'not-a-url' },
    });
    expect(cli.stderr).not.toMatch(/REDIS_URL/);
    expect(cli.stdout).toContain('Result: not_reproducible');
  });

  it('exits non-zero when the result is not fixed', () => {
    const repo = createFixtureRepo('passing');
    const cli = run('fix', repo.path, '--command', 'npm run format:check');
    expect(cli.status).toBe(1);
    expect(cli.stdout).toContain('Result: not_reproducible');
  });

  it('explains its usage and refuses repositories it may not clone', () => {
    expect(run('fix').status).toBe(2);
    const unknown = run('fix', '.', '--comand', 'true');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--comand'/);
    expect(unknown.stderr).toContain('Usage: ci-fixer fix');
    const refused = run('fix', 'https://evil.example/acme/x', '--command', 'true');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/host evil\.example is not allowed/);
  });

  it('runs in the sandbox driver --driver names', () => {
    const repo = createFixtureRepo('passing');
    // A docker engine that cannot answer: the run must fail at the docker driver's own check, proving the
    // flag chose it, and say where it looked.
    const cli = spawnSync(
      process.execPath,
      [CLI, 'fix', repo.path, '--command', 'npm run format:check', '--driver', 'docker'],
      {
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
      },
    );
    expect(cli.status).toBe(3);
    expect(cli.stderr).toContain(
      'the container engine at DOCKER_HOST=unix:///nonexistent/docker.sock does not answer',
    );
    const bogus = run('fix', repo.path, '--command', 'true', '--driver', 'bogus');
    expect(bogus.status).toBe(2);
    expect(bogus.stderr).toMatch(/SANDBOX_DRIVER: must be one of local, docker, kubernetes; got "bogus"/);
  });

  it('answers --help with the usage and exit 0', () => {
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--driver');
  });
});

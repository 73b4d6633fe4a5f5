import { describe, expect, it } from 'vitest';
import { ConfigError, ENV_NAMES, loadConfig, secretValues } from '../src/index.ts';

describe('loadConfig', () => {
  it('has defaults that work locally', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      PORT: 3000,
      SANDBOX_DRIVER: 'local',
      CI_FIXER_ALLOW_FILE_REPOS: false,
      CI_FIXER_REPO_HOSTS: ['github.com', 'gitlab.com'],
    });
    expect(config.CI_FIXER_API_TOKEN).toBeUndefined();
    expect(config.SANDBOX_ENV_PASSTHROUGH).toContain('NODE_EXTRA_CA_CERTS');
  });

  it('parses numbers, booleans and lists from strings', () => {
    const config = loadConfig({
      PORT: '8080',
      WORKER_CONCURRENCY: '4',
      CI_FIXER_ALLOW_FILE_REPOS: 'true',
      CI_FIXER_REPO_HOSTS: ' GitHub.com , git.example.com:8443 ',
      SANDBOX_ENV_PASSTHROUGH: 'HTTPS_PROXY,NO_PROXY',
    });
    expect(config.PORT).toBe(8080);
    expect(config.WORKER_CONCURRENCY).toBe(4);
    expect(config.CI_FIXER_ALLOW_FILE_REPOS).toBe(true);
    expect(config.CI_FIXER_REPO_HOSTS).toEqual(['github.com', 'git.example.com:8443']);
    expect(config.SANDBOX_ENV_PASSTHROUGH).toEqual(['HTTPS_PROXY', 'NO_PROXY']);
  });

  it('treats empty strings as unset, as compose and Helm render them', () => {
    const config = loadConfig({ PORT: '', CI_FIXER_API_TOKEN: '' });
    expect(config.PORT).toBe(3000);
    expect(config.CI_FIXER_API_TOKEN).toBeUndefined();
  });

  it.each([
    ['PORT', 'eighty', /PORT: must be a whole number; got "eighty"/],
    ['PORT', '70000', /PORT: must be at most 65535/],
    ['WORKER_CONCURRENCY', '0', /WORKER_CONCURRENCY: must be at least 1/],
    ['SANDBOX_DRIVER', 'vm', /SANDBOX_DRIVER: must be one of local, docker, kubernetes; got "vm"$/m],
    [
      'CI_FIXER_ALLOW_FILE_REPOS',
      'yes',
      /CI_FIXER_ALLOW_FILE_REPOS: must be one of true, 1, false, 0; got "yes"/,
    ],
    ['REDIS_URL', 'http://localhost', /REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/],
    ['CI_FIXER_API_TOKEN', 'short', /CI_FIXER_API_TOKEN: must be at least 16 characters/],
    [
      'CI_FIXER_REPO_HOSTS',
      'github.com,bad host',
      /CI_FIXER_REPO_HOSTS: must be a comma-separated list of host names/,
    ],
  ])('names %s and what is allowed when it is %s', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it.each([
    ['CI_FIXER_API_TOKEN', 'hunter2-short'],
    ['REDIS_URL', 'http://:s3cret-password@redis.internal'],
    ['CI_FIXER_JOB_SIGNING_KEY', 'a-real-but-too-short-key'],
  ])('never echoes the rejected value of the secret %s', (name, value) => {
    let message = '';
    try {
      loadConfig({ [name]: value });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(
      new RegExp(`${name}: .*got a value of ${value.length} characters \\(not shown\\)`),
    );
    expect(message).not.toContain(value);
    expect(message).not.toContain('s3cret-password');
  });

  it('lists the values of the configured secrets, and the password inside REDIS_URL', () => {
    const config = loadConfig({
      REDIS_URL: 'rediss://ci-fixer:p%40ss-word-123@redis.internal:6380/0',
      CI_FIXER_API_TOKEN: 'api-token-0123456789abcdef',
      GITHUB_WEBHOOK_SECRET: 'webhook-secret-0123456789',
    });
    expect(secretValues(config)).toEqual(
      expect.arrayContaining([
        'api-token-0123456789abcdef',
        'webhook-secret-0123456789',
        'rediss://ci-fixer:p%40ss-word-123@redis.internal:6380/0',
        'p%40ss-word-123',
        'p@ss-word-123',
      ]),
    );
  });

  it('parses the kubernetes pod placement settings', () => {
    const config = loadConfig({
      SANDBOX_DRIVER: 'kubernetes',
      K8S_NODE_SELECTOR: 'pool=sandboxes, kubernetes.io/arch=amd64',
      K8S_TOLERATIONS: '[{"key":"sandbox","operator":"Exists","effect":"NoSchedule"}]',
      K8S_IMAGE_PULL_SECRETS: 'registry-a, registry-b',
    });
    expect(config.K8S_NODE_SELECTOR).toEqual({ pool: 'sandboxes', 'kubernetes.io/arch': 'amd64' });
    expect(config.K8S_TOLERATIONS).toEqual([{ key: 'sandbox', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(config.K8S_IMAGE_PULL_SECRETS).toEqual(['registry-a', 'registry-b']);
    expect(config.K8S_NAMESPACE).toBe('ci-fixer-sandboxes');
  });

  it('refuses malformed kubernetes settings, naming each', () => {
    let message = '';
    try {
      loadConfig({ K8S_NODE_SELECTOR: 'pool', K8S_TOLERATIONS: '{"key":1}', K8S_WORKSPACE_DIR: 'workspace' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('K8S_NODE_SELECTOR: must be comma-separated key=value pairs');
    expect(message).toContain('K8S_TOLERATIONS: must be a JSON array of tolerations');
    expect(message).toContain('K8S_WORKSPACE_DIR: must be an absolute path');
  });

  it('reports every bad variable at once', () => {
    try {
      loadConfig({ PORT: 'x', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((problem) => problem.split(':')[0])).toEqual([
        'LOG_LEVEL',
        'PORT',
      ]);
    }
  });

  it('reads nothing outside its own names', () => {
    expect(ENV_NAMES).toContain('REDIS_URL');
    expect(Object.keys(loadConfig({ HOME: '/root', UNRELATED: '1' }))).toEqual(
      expect.not.arrayContaining(['HOME']),
    );
  });
});

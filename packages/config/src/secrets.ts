import type { Config, EnvName } from './schema.ts';

/**
 * Settings whose values are credentials. The chart puts them in a Secret (or reads them from
 * `existingSecret`), never in its ConfigMap; configuration errors never echo them; the apps register their
 * values with the logger so that they are redacted wherever they appear. REDIS_URL is here because a
 * production URL carries the Redis password.
 */
export const SECRET_ENV_NAMES = [
  'CI_FIXER_API_TOKEN',
  'CI_FIXER_JOB_SIGNING_KEY',
  'SANDBOX_EGRESS_PROXY_KEY',
  'REDIS_URL',
  'GITHUB_WEBHOOK_SECRET',
  'GITLAB_WEBHOOK_TOKEN',
  'GITHUB_TOKEN',
  'GITHUB_APP_PRIVATE_KEY',
  'GITLAB_TOKEN',
  'LLM_API_KEY',
] as const satisfies readonly EnvName[];

export function isSecretEnvName(name: string): boolean {
  return (SECRET_ENV_NAMES as readonly string[]).includes(name);
}

/** The secret values in a configuration, as they may appear in text: whole, and a URL's password alone. */
export function secretValues(config: Config): string[] {
  const values: string[] = [];
  for (const name of SECRET_ENV_NAMES) {
    const value = config[name];
    if (typeof value !== 'string' || !value) continue;
    values.push(value);
    const password = urlPassword(value);
    if (password) values.push(password, safeDecode(password));
  }
  return values;
}

function urlPassword(value: string): string | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return undefined;
  try {
    return new URL(value).password || undefined;
  } catch {
    return undefined;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

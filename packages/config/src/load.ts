import { z } from 'zod';
import { crossFieldRules, ENV_NAMES, envSchema, type Config } from './schema.ts';
import { isSecretEnvName } from './secrets.ts';

export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Reads and validates the configuration; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const relevant: Record<string, string> = {};
  for (const name of ENV_NAMES) {
    const value = env[name];
    // Compose files and Helm values often render unset variables as empty strings.
    if (value !== undefined && value !== '') relevant[name] = value;
  }
  const parsed = envSchema.safeParse(relevant);
  if (parsed.success) {
    const problems = crossFieldRules
      .map((rule) => rule(parsed.data))
      .filter((problem) => problem !== undefined);
    if (problems.length > 0) throw new ConfigError(problems);
    return parsed.data;
  }
  throw new ConfigError(parsed.error.issues.map((issue) => describeIssue(issue, relevant)));
}

function describeIssue(issue: z.core.$ZodIssue, input: Record<string, string>): string {
  const name = String(issue.path[0] ?? '(root)');
  const got = input[name];
  // zod's own text for an enum already lists the values, in its notation; say it once, plainly.
  const message =
    issue.code === 'invalid_value' ? `must be one of ${issue.values.join(', ')}` : issue.message;
  // A rejected secret is still a secret (often a real one set in the wrong variable): describe, never echo.
  const shown = isSecretEnvName(name)
    ? `a value of ${got?.length} characters (not shown)`
    : JSON.stringify(got);
  return `${name}: ${message}${got === undefined ? '' : `; got ${shown}`}`;
}

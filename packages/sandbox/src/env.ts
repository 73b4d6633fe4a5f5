import { existsSync } from 'node:fs';
import path from 'node:path';

/** The named variables that are set in `source`, for a sandbox's environment. */
export function pickEnv(
  names: readonly string[],
  source: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of names) {
    const value = source[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}

/**
 * The worker variables a sandbox inherits (trust stores, proxies), and the host files they name (CA
 * bundles): where the driver shares the host, the sandbox sees the same trust store at the same path.
 */
export function passthrough(
  names: readonly string[],
  source: NodeJS.ProcessEnv = process.env,
): { env: Record<string, string>; files: string[] } {
  const env = pickEnv(names, source);
  const files = Object.values(env).filter((value) => path.isAbsolute(value) && existsSync(value));
  return { env, files: [...new Set(files)] };
}

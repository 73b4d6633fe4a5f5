import { z } from 'zod';
import { apiSettings } from './api-settings.ts';
import { forgeSettings } from './forge-settings.ts';
import { kubernetesSettings } from './kubernetes-settings.ts';
import { llmSettings } from './llm-settings.ts';
import { platformSettings } from './platform-settings.ts';
import { sandboxSettings } from './sandbox-settings.ts';
import { workerSettings } from './worker-settings.ts';

export { LOG_LEVELS } from './platform-settings.ts';
export { ISOLATION_MODES, SANDBOX_DRIVERS } from './sandbox-settings.ts';

/**
 * Every environment variable ci-fixer reads, with its default and meaning.
 *
 * The keys are the public names: docs/configuration.md, the Helm chart, docker-compose and the Dockerfiles are
 * all checked against this object, so a name that is not here is read by nothing. Each section's file says
 * which part of the platform reads it.
 */
export const envSchema = z.object({
  ...platformSettings,
  ...apiSettings,
  ...workerSettings,
  ...sandboxSettings,
  ...kubernetesSettings,
  ...llmSettings,
  ...forgeSettings,
});

export type Config = z.infer<typeof envSchema>;

/** Rules across variables; each names the variables involved. */
export const crossFieldRules: ((config: Config) => string | undefined)[] = [
  (config) =>
    config.NODE_ENV === 'production' &&
    config.SANDBOX_DRIVER === 'local' &&
    config.SANDBOX_ISOLATION === 'none'
      ? 'SANDBOX_ISOLATION: `none` (no isolation) is refused when NODE_ENV=production; install bubblewrap and use `bwrap`, or a container driver'
      : undefined,
  (config) =>
    config.K8S_EGRESS_PROXY && !config.SANDBOX_EGRESS_PROXY_KEY
      ? 'K8S_EGRESS_PROXY needs SANDBOX_EGRESS_PROXY_KEY: the worker signs sandbox credentials with it for the proxy at that address'
      : undefined,
];
export type EnvName = keyof typeof envSchema.shape;

export const ENV_NAMES = Object.keys(envSchema.shape) as EnvName[];

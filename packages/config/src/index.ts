export { envSchema, ENV_NAMES, SANDBOX_DRIVERS, LOG_LEVELS, type Config, type EnvName } from './schema.ts';
export { loadConfig, ConfigError } from './load.ts';
export {
  configTable,
  shownDefault,
  CONFIG_TABLE_FILE,
  CONFIG_TABLE_START,
  CONFIG_TABLE_END,
} from './docs.ts';
export { SECRET_ENV_NAMES, isSecretEnvName, secretValues } from './secrets.ts';

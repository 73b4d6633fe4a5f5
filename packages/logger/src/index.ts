export { createLogger, type Logger, type LoggerOptions } from './logger.ts';
export { addSecretValues, redact, redactField, redactText, REDACTED } from './redact.ts';

export { createLogger, type Logger, type LoggerOptions } from './logger.ts';
export { redact, redactField, redactText, REDACTED } from './redact.ts';

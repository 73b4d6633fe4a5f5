import winston from 'winston';
import { redactField } from './redact.ts';

export type Logger = winston.Logger;

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read what was logged. */
  stream?: NodeJS.WritableStream;
}

// winston's metadata lives on the info object itself, beside its Symbol-keyed internals, which must survive.
const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key !== 'level') info[key] = redactField(key, info[key]);
  }
  return info;
});

/** Structured JSON logs, one object per line, with secrets redacted before they are written. */
export function createLogger({ service, level = 'info', stream }: LoggerOptions): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { service },
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      redactFormat(),
      winston.format.timestamp(),
      winston.format.json(),
    ),
    transports: [stream ? new winston.transports.Stream({ stream }) : new winston.transports.Console()],
  });
}

import { loadConfig } from './load.ts';
import { ENV_NAMES, envSchema } from './schema.ts';

/** The configuration reference as a Markdown table, made from the schema so the docs cannot drift. */
export function configTable(): string {
  const defaults = loadConfig({});
  const rows = ENV_NAMES.map((name) => {
    const description = (envSchema.shape[name].description ?? '').replace(/\|/g, '\\|');
    return `| \`${name}\` | ${shownDefault(defaults[name])} | ${description} |`;
  });
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** A default as the variable would be written: lists comma-separated, maps as JSON, nothing as "none". */
export function shownDefault(value: unknown): string {
  if (value === undefined) return '—';
  const written = Array.isArray(value)
    ? value.join(',')
    : typeof value === 'object' && value !== null
      ? Object.keys(value).length
        ? JSON.stringify(value)
        : ''
      : String(value);
  return written === '' ? 'none' : `\`${written}\``;
}

export const CONFIG_TABLE_FILE = 'docs/configuration.md';
export const CONFIG_TABLE_START = '<!-- config-table:start (pnpm docs:config) -->';
export const CONFIG_TABLE_END = '<!-- config-table:end -->';

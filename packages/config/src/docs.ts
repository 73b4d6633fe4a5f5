import { loadConfig } from './load.ts';
import { ENV_NAMES, envSchema } from './schema.ts';

/** The configuration reference as a Markdown table, made from the schema so the README cannot drift. */
export function configTable(): string {
  const defaults = loadConfig({});
  const rows = ENV_NAMES.map((name) => {
    const value = defaults[name];
    const shown = value === undefined ? '—' : `\`${Array.isArray(value) ? value.join(',') : String(value)}\``;
    const description = (envSchema.shape[name].description ?? '').replace(/\|/g, '\\|');
    return `| \`${name}\` | ${shown} | ${description} |`;
  });
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export const CONFIG_TABLE_START = '<!-- config-table:start (pnpm docs:config) -->';
export const CONFIG_TABLE_END = '<!-- config-table:end -->';

/** Rewrites the configuration table in README.md from the config schema: `pnpm docs:config`. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { format, resolveConfig } from 'prettier';
import { CONFIG_TABLE_END, CONFIG_TABLE_START, configTable } from '@ci-fixer/config';

const readme = path.resolve(import.meta.dirname, '..', 'README.md');
const text = readFileSync(readme, 'utf8');
const start = text.indexOf(CONFIG_TABLE_START);
const end = text.indexOf(CONFIG_TABLE_END);
if (start < 0 || end < start)
  throw new Error(`README.md lacks the ${CONFIG_TABLE_START} … ${CONFIG_TABLE_END} markers`);
const rewritten = `${text.slice(0, start + CONFIG_TABLE_START.length)}\n${configTable()}\n${text.slice(end)}`;
// Formatted like `pnpm lint` checks it, so regenerating the table never fails the formatting check.
const options = (await resolveConfig(readme)) ?? {};
writeFileSync(readme, await format(rewritten, { ...options, filepath: readme }));

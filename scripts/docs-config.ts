/** Rewrites the configuration table in docs/configuration.md from the config schema: `pnpm docs:config`. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { format, resolveConfig } from 'prettier';
import { CONFIG_TABLE_END, CONFIG_TABLE_FILE, CONFIG_TABLE_START, configTable } from '@ci-fixer/config';

const file = path.resolve(import.meta.dirname, '..', CONFIG_TABLE_FILE);
const text = readFileSync(file, 'utf8');
const start = text.indexOf(CONFIG_TABLE_START);
const end = text.indexOf(CONFIG_TABLE_END);
if (start < 0 || end < start)
  throw new Error(`${CONFIG_TABLE_FILE} lacks the ${CONFIG_TABLE_START} … ${CONFIG_TABLE_END} markers`);
const rewritten = `${text.slice(0, start + CONFIG_TABLE_START.length)}\n${configTable()}\n${text.slice(end)}`;
// Formatted like `pnpm lint` checks it, so regenerating the table never fails the formatting check.
const options = (await resolveConfig(file)) ?? {};
writeFileSync(file, await format(rewritten, { ...options, filepath: file }));

/** The README, the configuration reference and the CI script say what the code does. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_TABLE_END,
  CONFIG_TABLE_FILE,
  CONFIG_TABLE_START,
  configTable,
  shownDefault,
} from '@ci-fixer/config';

const root = path.resolve(import.meta.dirname, '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

describe('configuration reference', () => {
  it('carries the table generated from the schema (pnpm docs:config)', () => {
    const doc = read(CONFIG_TABLE_FILE);
    const start = doc.indexOf(CONFIG_TABLE_START) + CONFIG_TABLE_START.length;
    // Prettier pads the table's columns; compare cell by cell.
    const cells = (table: string) =>
      table
        .trim()
        .split('\n')
        .map((row) => row.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/^-{3,}$/, '---')));
    expect(cells(doc.slice(start, doc.indexOf(CONFIG_TABLE_END)))).toEqual(cells(configTable()));
  });

  it('shows defaults as they would be written', () => {
    expect(shownDefault(['github.com', 'gitlab.com'])).toBe('`github.com,gitlab.com`');
    expect(shownDefault([])).toBe('none');
    expect(shownDefault({})).toBe('none');
    expect(shownDefault({ 'org/*': 'pr' })).toBe('`{"org/*":"pr"}`');
    expect(shownDefault('')).toBe('none');
    expect(shownDefault(undefined)).toBe('—');
    expect(shownDefault(3000)).toBe('`3000`');
    expect(configTable()).not.toMatch(/\[object Object\]|``/);
  });
});

describe('README', () => {
  const readme = read('README.md');

  it('stays short: the reference lives in docs/', () => {
    expect(Buffer.byteLength(readme)).toBeLessThan(10_240);
  });

  it('gives the two quick-start commands, and both exist', () => {
    const scripts = JSON.parse(read('package.json')).scripts as Record<string, string>;
    expect(readme).toContain('pnpm install && pnpm start');
    expect(readme).toContain('pnpm install && pnpm test');
    expect(scripts.start).toBeDefined();
    expect(scripts.test).toBeDefined();
  });

  it('names a Node version the project actually requires', () => {
    const engines = JSON.parse(read('package.json')).engines as { node: string };
    expect(read('.nvmrc').trim()).toBe('24');
    expect(engines.node).toBe('>=24.0.0');
    expect(readme).toContain('Node.js **24 LTS**');
  });

  it('links only to docs that exist', () => {
    for (const [, target] of readme.matchAll(/\]\((docs\/[^)#]+)\)/g)) {
      expect(() => read(target!), target).not.toThrow();
    }
  });
});

describe('CI script', () => {
  it("runs the README's test command", () => {
    expect(read('.ci/run')).toMatch(/^pnpm test\b/m);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCase } from '../corpus/build.ts';
import { CASES } from '../corpus/cases.ts';
import { runCase } from '../eval/run-case.ts';
import { requireTool } from './helpers/real-tools.ts';

// The quick subset of the corpus (`pnpm eval` runs all of it): generated broken repositories through the
// real pipeline in LocalDriver sandboxes; every `fixed` is re-checked on a fresh clone.
let work: string;
beforeAll(() => {
  ['black', 'isort', 'flake8', 'go', 'gofmt'].forEach(requireTool);
  work = mkdtempSync(path.join(os.tmpdir(), 'ci-fixer-corpus-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('corpus (quick subset)', () => {
  it.each(CASES.filter((c) => c.quick).map((c) => [c.name, c] as const))(
    '%s',
    async (_name, corpusCase) => {
      const repo = buildCase(corpusCase, path.join(work, 'repos'), path.join(work, 'npm-cache'));
      const run = await runCase(corpusCase, repo, { cacheDir: path.join(work, 'cache') });
      expect(run.result.outcome, run.result.reason).toBe(corpusCase.expected);
      if (corpusCase.reason) expect(run.result.reason).toMatch(corpusCase.reason);
      if (run.result.outcome === 'fixed') expect(run.verified, run.verifyDetail).toBe(true);
    },
    120_000,
  );
});

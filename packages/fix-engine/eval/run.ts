/**
 * `pnpm eval`: builds every corpus repository, runs it through the real pipeline in LocalDriver sandboxes,
 * checks each fix independently, prints a category × outcome table and writes docs/fix-rate.md.
 *
 *   pnpm eval                 all cases
 *   pnpm eval -- --quick      the subset that also runs in `pnpm test`
 *   pnpm eval -- go-mod-tidy  the named cases
 *   pnpm eval -- --cache-benchmark   cold versus warm dependency cache for a few cases
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CASES, CHECK_CLASSES, type CorpusCase } from '../corpus/cases.ts';
import { buildCase } from '../corpus/build.ts';
import { runCase, type CaseResult } from './run-case.ts';
import { OUTCOMES } from '@ci-fixer/contract';

const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');
const args = process.argv.slice(2).filter((arg) => arg !== '--');
const work = mkdtempSync(path.join(os.tmpdir(), 'ci-fixer-eval-'));
const npmCache = path.join(os.tmpdir(), 'ci-fixer-eval-build-cache');

if (args.includes('--cache-benchmark')) {
  await cacheBenchmark();
} else {
  await evaluate();
}
rmSync(work, { recursive: true, force: true });

async function evaluate(): Promise<void> {
  const named = args.filter((arg) => !arg.startsWith('--'));
  const cases = CASES.filter((c) =>
    named.length ? named.includes(c.name) : !args.includes('--quick') || c.quick,
  );
  // One cache for the whole evaluation (the `shared` scope): the corpus is one tenant.
  const cacheDir = path.join(work, 'cache');
  const results: CaseResult[] = [];
  for (const corpusCase of cases) {
    const repo = buildCase(corpusCase, path.join(work, 'repos'), npmCache);
    const result = await runCase(corpusCase, repo, { cacheDir });
    results.push(result);
    const mark = verdict(result);
    console.log(
      `${mark.padEnd(8)} ${corpusCase.name.padEnd(28)} ${result.result.outcome.padEnd(17)} ${(result.durationMs / 1000).toFixed(1).padStart(6)}s  ${result.result.strategy ?? ''}${mark === 'FAIL' ? `  (${failureWhy(result)})` : ''}`,
    );
  }
  const report = renderReport(results);
  console.log(`\n${report}`);
  if (!named.length && !args.includes('--quick')) {
    mkdirSync(path.join(REPO_ROOT, 'docs'), { recursive: true });
    writeFileSync(path.join(REPO_ROOT, 'docs/fix-rate.md'), report);
    // Formatted like every other file, so that `pnpm lint` stays green after an evaluation.
    execFileSync(path.join(REPO_ROOT, 'node_modules/.bin/prettier'), ['--write', 'docs/fix-rate.md'], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    });
    console.log('wrote docs/fix-rate.md');
  }
  if (results.some((result) => verdict(result) === 'FAIL')) process.exitCode = 1;
}

/**
 * PASS: the engine answered what a correct engine answers (with the reason the case asks for, without a
 * step it forbids), and every fix was checked independently.
 */
function verdict(result: CaseResult): 'PASS' | 'FAIL' {
  if (result.result.outcome === 'fixed' && result.verified !== true) return 'FAIL';
  if (result.case.reason && !result.case.reason.test(result.result.reason)) return 'FAIL';
  if (forbiddenSteps(result).length > 0) return 'FAIL';
  return result.result.outcome === result.case.expected ? 'PASS' : 'FAIL';
}

function forbiddenSteps(result: CaseResult): string[] {
  const forbidden = result.case.forbiddenStep;
  return forbidden ? result.result.steps.map((step) => step.command).filter((c) => forbidden.test(c)) : [];
}

function failureWhy(result: CaseResult): string {
  if (result.result.outcome === 'fixed' && !result.verified) return `fix rejected: ${result.verifyDetail}`;
  const forbidden = forbiddenSteps(result);
  if (forbidden.length > 0)
    return `ran ${forbidden.map((c) => `\`${c}\``).join(', ')}, which the check does not need`;
  if (result.case.reason && !result.case.reason.test(result.result.reason))
    return `the reason should match ${result.case.reason}: ${result.result.reason}`;
  return `expected ${result.case.expected}: ${result.result.reason}`;
}

/** Per class of real CI check: fixable cases fixed, outcomes (and reasons, steps) right, unsafe patches. */
function classTable(results: CaseResult[]): string[] {
  const rows = Object.entries(CHECK_CLASSES).flatMap(([name, title]) => {
    const of = results.filter((r) => r.case.checkClass === name);
    if (of.length === 0) return [];
    const fixable = of.filter((r) => r.case.expected === 'fixed');
    const fixed = fixable.filter((r) => r.result.outcome === 'fixed' && r.verified).length;
    const right = of.filter((r) => verdict(r) === 'PASS').length;
    const unsafe = of.filter((r) => r.result.outcome === 'fixed' && !r.verified).length;
    const ratio = median(fixable.map(timeRatio));
    return [
      `| ${title} | ${of.length} | ${fixed}/${fixable.length} | ${right}/${of.length} | ${unsafe} | ${ratio ? `${ratio.toFixed(1)}×` : 'n/a'} |`,
    ];
  });
  if (rows.length === 0) return [];
  return [
    '| check class (issue 13) | cases | fixable fixed | outcome right | unsafe patches | time vs bare tools (median, fixable) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ];
}

/**
 * What the check's own tools take by hand on a warm cache, from the steps the engine recorded inside the
 * sandbox: the install, the check once, each fixer it ran, and for a fix the check once more. Left out is
 * what the platform adds: the sandbox, the clone, the second run that tells a pass from a flake, probes,
 * snapshots, and verification with the fix committed.
 */
function bareMs(result: CaseResult): number {
  const steps = result.result.steps;
  const sum = (of: typeof steps) => of.reduce((total, step) => total + step.durationMs, 0);
  const check = steps.find((step) => step.stage === 'reproducing');
  const lastCheck = steps.findLast((step) => step.command === result.case.command);
  return (
    sum(steps.filter((step) => step.stage === 'installing' || step.stage === 'fixing')) +
    (check?.durationMs ?? 0) +
    (result.result.outcome === 'fixed' && lastCheck && lastCheck !== check ? lastCheck.durationMs : 0)
  );
}

/** The engine's whole time for a case (sandbox to result, without the evaluation's own re-check) over bare. */
function timeRatio(result: CaseResult): number {
  const bare = bareMs(result);
  return bare > 0 ? result.durationMs / bare : Number.NaN;
}

function median(values: number[]): number | undefined {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  return (sorted[Math.floor((sorted.length - 1) / 2)]! + sorted[Math.ceil((sorted.length - 1) / 2)]!) / 2;
}

function renderReport(results: CaseResult[]): string {
  const categories = [...new Set(results.map((r) => r.case.category))];
  const count = (category: string, outcome: string) =>
    results.filter(
      (r) =>
        r.case.category === category && r.result.outcome === outcome && (outcome !== 'fixed' || r.verified),
    ).length;
  const rejected = results.filter((r) => r.result.outcome === 'fixed' && !r.verified).length;
  const header = `| category | ${OUTCOMES.join(' | ')} | rejected fixes | cases |`;
  const rows = categories.map(
    (category) =>
      `| ${category} | ${OUTCOMES.map((o) => count(category, o)).join(' | ')} | ${results.filter((r) => r.case.category === category && r.result.outcome === 'fixed' && !r.verified).length} | ${results.filter((r) => r.case.category === category).length} |`,
  );
  const failing = results.filter((r) => r.case.expected !== 'not_reproducible');
  const fixed = failing.filter((r) => r.result.outcome === 'fixed' && r.verified).length;
  const fixable = failing.filter((r) => r.case.expected === 'fixed');
  const fixableFixed = fixable.filter((r) => r.result.outcome === 'fixed' && r.verified).length;
  const matches = results.filter((r) => verdict(r) === 'PASS').length;
  const controls = results.filter((r) => r.case.expected !== 'fixed');
  const controlsRight = controls.filter((r) => verdict(r) === 'PASS').length;
  const medianMs = median(results.map((r) => r.durationMs)) ?? 0;
  const fixedRuns = results.filter((r) => r.result.outcome === 'fixed' && r.verified);
  const ratios = fixedRuns.map(timeRatio).filter((ratio) => Number.isFinite(ratio));
  const withinTarget = ratios.filter((ratio) => ratio <= 1.5).length;
  const byLanguage = ['js', 'python', 'go']
    .map((language) => {
      const of = results.filter((r) => r.case.language === language);
      return `${language} ${of.filter((r) => verdict(r) === 'PASS').length}/${of.length}`;
    })
    .join(', ');
  return [
    '# Fix rate',
    '',
    `Generated by \`pnpm eval\` on ${new Date().toISOString().slice(0, 10)}: ${results.length} generated repositories`,
    '(packages/fix-engine/corpus/cases.ts) through the real pipeline in LocalDriver sandboxes, recipes only',
    '(no LLM agent), on a 2-core machine with one dependency cache for the run. Every `fixed` is re-checked: its',
    'patch is applied to a fresh clone in a fresh sandbox and committed, dependencies installed, and the command',
    '(and the verify command) must pass; a fix that fails that check counts as a rejected (unsafe) fix, not as',
    'fixed. A case may also ask for a reason (killed commands, failed installs) or forbid a step (an install the',
    'check does not need).',
    '',
    header,
    `|${' --- |'.repeat(OUTCOMES.length + 3)}`,
    ...rows,
    '',
    ...classTable(results),
    `- Fix rate over the ${failing.length} failing repositories: **${fixed}/${failing.length} (${pct(fixed, failing.length)})**.`,
    `- Fix rate over the ${fixable.length} a recipe can fix: ${fixableFixed}/${fixable.length} (${pct(fixableFixed, fixable.length)}); the rest need code changes (the LLM agent's job).`,
    `- Outcome as expected: ${matches}/${results.length} (${byLanguage}); rejected fixes: ${rejected}.`,
    `- Negative controls (a logic bug, a flaky test, a clean tree, a kill, a check that cannot run: expected \`not_reproducible\` or \`unfixable\`): ${controlsRight}/${controls.length} answered as expected (${pct(controlsRight, controls.length)}).`,
    `- Median time per repository (sandbox, clone, install, reproduce, fix, verify): ${(medianMs / 1000).toFixed(1)} s.`,
    `- Time against the bare tools (the install, the check, its fixer and the check again, as recorded in the sandbox) over the ${ratios.length} fixed repositories: median ${(median(ratios) ?? 0).toFixed(1)}× (median bare ${((median(fixedRuns.map(bareMs)) ?? 0) / 1000).toFixed(1)} s, median engine ${((median(fixedRuns.map((r) => r.durationMs)) ?? 0) / 1000).toFixed(1)} s, median time the platform adds ${((median(fixedRuns.map((r) => r.durationMs - bareMs(r))) ?? 0) / 1000).toFixed(1)} s); ${withinTarget} of ${ratios.length} within the 1.5× target.`,
    '',
    '| case | class | category | expected | outcome | strategy | seconds | bare tools (s) | ratio |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.case.name} | ${r.case.checkClass ?? ''} | ${r.case.category} | ${r.case.expected} | ${r.result.outcome}${r.result.outcome === 'fixed' && !r.verified ? ' (rejected)' : ''} | ${r.result.strategy ?? ''} | ${(r.durationMs / 1000).toFixed(1)} | ${(bareMs(r) / 1000).toFixed(1)} | ${Number.isFinite(timeRatio(r)) ? `${timeRatio(r).toFixed(1)}×` : ''} |`,
    ),
    '',
  ].join('\n');
}

function pct(part: number, whole: number): string {
  return whole ? `${Math.round((part / whole) * 100)}%` : 'n/a';
}

/** The same repository twice with a per-repository cache: first cold (empty), then warm. */
async function cacheBenchmark(): Promise<void> {
  const names = ['js-prettier-and-eslint', 'js-pnpm-lockfile-drift', 'go-mod-tidy'];
  console.log('| case | no cache (s) | cold cache (s) | warm cache (s) | speed-up warm vs none |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const name of names) {
    const corpusCase = CASES.find((c) => c.name === name)!;
    const repo = buildCase(corpusCase, path.join(work, 'repos'), npmCache);
    const cacheDir = path.join(work, 'bench-cache', name);
    mkdirSync(cacheDir, { recursive: true });
    const none = await runCase(corpusCase, repo);
    const cold = await runCase(corpusCase, repo, { cacheDir });
    const warm = await runCase(corpusCase, repo, { cacheDir });
    for (const run of [none, cold, warm])
      if (verdict(run) === 'FAIL') throw new Error(`${name}: ${failureWhy(run)}`);
    const s = (ms: number) => (ms / 1000).toFixed(1);
    console.log(
      `| ${name} | ${s(none.durationMs)} | ${s(cold.durationMs)} | ${s(warm.durationMs)} | ${(none.durationMs / warm.durationMs).toFixed(1)}× |`,
    );
  }
}

export type { CorpusCase };

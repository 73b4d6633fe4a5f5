/**
 * What containment costs, on the local driver, in one run on one machine: sandboxes as the platform ran them
 * before containment (`SANDBOX_ISOLATION=none`: plain processes, no limits, no egress control) next to the
 * default (bubblewrap with its own network namespace, cgroup limits, the egress proxy). For each: create → the
 * first exec of `true` returns, and the whole fix of the prettier fixture repository through fixInSandbox,
 * the path the worker and CLI take (clone, install, reproduce, fix, verify).
 *
 * Run: `node bench/containment-cost.ts [lifecycles] [fixes]` (defaults 30 and 5).
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '@ci-fixer/config';
import { fixInSandbox } from '@ci-fixer/fix-engine';
import { expandEgress, passthrough } from '@ci-fixer/sandbox';
import { LocalDriver } from '@ci-fixer/sandbox/local';
import { createFixtureRepo } from '../test/support/fixture-repos.ts';
import { machine, percentile, writeSection } from './report.ts';

const lifecycles = Number(process.argv[2] ?? 30);
const fixes = Number(process.argv[3] ?? 5);
const config = loadConfig({});
const inherited = passthrough(config.SANDBOX_ENV_PASSTHROUGH);
const egress = await expandEgress(config.SANDBOX_EGRESS_ALLOW);
const MB = 1_048_576;

async function measure(isolation: 'none' | 'bwrap') {
  const driver = new LocalDriver({
    root: mkdtempSync(path.join(os.tmpdir(), `cif-bench-${isolation}-`)),
    isolation,
    limits: {
      memoryBytes: config.SANDBOX_MEMORY_MB * MB,
      pids: config.SANDBOX_PIDS,
      diskBytes: config.SANDBOX_DISK_MB * MB,
    },
  });
  const { isolation: described } = await driver.preflight();
  const firstExec: number[] = [];
  for (let i = 0; i < lifecycles; i++) {
    const start = performance.now();
    const sandbox = await driver.create({ labels: { 'ci-fixer.dev/owner': 'bench' }, egress });
    const result = await sandbox.exec(['true']);
    firstExec.push(performance.now() - start);
    await sandbox.destroy();
    if (result.exitCode !== 0) throw new Error(`true exited ${result.exitCode} (${isolation})`);
  }
  const fixMs: number[] = [];
  for (let i = 0; i < fixes; i++) {
    const repo = createFixtureRepo('prettier');
    const start = performance.now();
    const result = await fixInSandbox(
      driver,
      { repo: { url: repo.path }, command: 'npm run format:check' },
      {
        owner: 'bench',
        env: inherited.env,
        hostFiles: inherited.files,
        egress,
        commandTimeoutMs: config.SANDBOX_COMMAND_TIMEOUT_SECONDS * 1000,
        patchGuard: config,
      },
    );
    fixMs.push(performance.now() - start);
    if (result.outcome !== 'fixed')
      throw new Error(`prettier fixture ended ${result.outcome} (${isolation})`);
  }
  await driver.close();
  return { isolation, described, firstExec, fixMs };
}

const runs = [await measure('none'), await measure('bwrap')];
const ms = (value: number) => `${Math.round(value)} ms`;
const table = [
  '| sandboxes | create → first exec p50 | p99 | prettier fixture fixed, p50 | max |',
  '| --- | --- | --- | --- | --- |',
  ...runs.map(
    (run) =>
      `| ${run.isolation === 'none' ? 'before: `SANDBOX_ISOLATION=none`' : 'after: bubblewrap (default)'} | ${ms(percentile(run.firstExec, 50))} | ${ms(percentile(run.firstExec, 99))} | ${ms(percentile(run.fixMs, 50))} | ${ms(Math.max(...run.fixMs))} |`,
  ),
].join('\n');
console.log(table);
const load = os.loadavg()[0]!.toFixed(1);
await writeSection(
  'containment-cost',
  `## What containment costs (local driver)

\`node bench/containment-cost.ts\`: ${lifecycles} sandbox lifecycles and ${fixes} fixes of the prettier fixture
repository per row, one run, in turn. ${machine()}; load before the run ${load}.

- before: ${runs[0]!.described}
- after: ${runs[1]!.described}

${table}`,
);

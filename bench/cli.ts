/**
 * The CLI as a person feels it: `ci-fixer --help` wall time, and for a local-driver fix of the prettier
 * fixture the time from launch to the first stage line (the first sandbox command starting) and to the end.
 *
 * Run: `node bench/cli.ts [runs]` (default 20 for --help, a quarter of that for fixes).
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { createFixtureRepo } from '../test/support/fixture-repos.ts';
import { machine, percentile, writeSection } from './report.ts';

const CLI = path.resolve(import.meta.dirname, '../apps/cli/src/main.ts');
const runs = Number(process.argv[2] ?? 20);

const help: number[] = [];
for (let i = 0; i < runs; i++) {
  const start = performance.now();
  const result = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  help.push(performance.now() - start);
  if (result.status !== 0) throw new Error(`--help exited ${result.status}: ${result.stderr}`);
}

/** Launch → first `▸` stage line on stderr, and launch → exit. */
async function timedFix(repo: string): Promise<{ firstStage: number; total: number }> {
  const start = performance.now();
  const child = spawn(process.execPath, [CLI, 'fix', repo, '--command', 'npm run format:check', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let firstStage = 0;
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (!firstStage && stderr.includes('▸')) firstStage = performance.now() - start;
  });
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`fix exited ${code}: ${stderr}`);
  return { firstStage, total: performance.now() - start };
}

const fixes: { firstStage: number; total: number }[] = [];
for (let i = 0; i < Math.max(3, Math.round(runs / 4)); i++) {
  fixes.push(await timedFix(createFixtureRepo('prettier').path));
}

const ms = (value: number) => `${Math.round(value)} ms`;
const row = (name: string, values: number[]) =>
  `| ${name} | ${values.length} | ${ms(percentile(values, 50))} | ${ms(percentile(values, 95))} |`;
const table = [
  '| measure | runs | p50 | p95 |',
  '| --- | --- | --- | --- |',
  row('`ci-fixer --help`', help),
  row(
    'fix (local driver): launch → first stage line',
    fixes.map((fix) => fix.firstStage),
  ),
  row(
    'fix (local driver): launch → fixed, prettier fixture',
    fixes.map((fix) => fix.total),
  ),
].join('\n');
console.log(table);
await writeSection(
  'cli',
  `## CLI start-up (\`node bench/cli.ts\`)

${machine()}. Each run is a new process; the fixes use the local driver (bubblewrap) on the prettier
fixture repository, with npm's cache warm.

${table}`,
);

/** `pnpm bench`: every benchmark in turn; each writes its own section of docs/benchmarks.md. */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
const only = process.argv[2];
for (const file of readdirSync(here).filter(
  (name) => name.endsWith('.ts') && !['run.ts', 'report.ts'].includes(name),
)) {
  if (only && !file.startsWith(only)) continue;
  console.log(`\n== ${file}`);
  const run = spawnSync(process.execPath, [path.join(here, file)], { stdio: 'inherit' });
  if (run.status !== 0) process.exitCode = 1;
}

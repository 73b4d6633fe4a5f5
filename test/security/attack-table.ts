import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The attack × driver table the security suite prints: each suite records what each attack met, and the
 * last suite to finish prints the whole table from the records on disk (suites run in separate workers).
 */
const DIR = path.resolve(import.meta.dirname, '../../test-results/security');

export type Verdict = 'blocked' | 'allowed';

export class AttackTable {
  private readonly rows: { attack: string; verdict: Verdict }[] = [];
  private readonly driver: string;

  constructor(driver: string) {
    this.driver = driver;
  }

  record(attack: string, verdict: Verdict): void {
    this.rows.push({ attack, verdict });
  }

  /** Writes this driver's rows and prints the table of every driver recorded so far. */
  flush(): void {
    mkdirSync(DIR, { recursive: true });
    writeFileSync(path.join(DIR, `${this.driver}.json`), JSON.stringify(this.rows));
    const byDriver = new Map<string, Map<string, Verdict>>();
    for (const file of readdirSync(DIR).filter((name) => name.endsWith('.json'))) {
      const rows = JSON.parse(readFileSync(path.join(DIR, file), 'utf8')) as {
        attack: string;
        verdict: Verdict;
      }[];
      byDriver.set(file.replace(/\.json$/, ''), new Map(rows.map((row) => [row.attack, row.verdict])));
    }
    const drivers = [...byDriver.keys()].sort();
    const attacks = [...new Set([...byDriver.values()].flatMap((rows) => [...rows.keys()]))];
    const width = Math.max(...attacks.map((attack) => attack.length), 6);
    // Each column as wide as its driver's name ("kubernetes (real node)") or a verdict.
    const column = (driver: string) => Math.max(driver.length, 8);
    const lines = [
      `${'attack'.padEnd(width)} | ${drivers.map((driver) => driver.padEnd(column(driver))).join(' | ')}`,
      `${'-'.repeat(width)}-|-${drivers.map((driver) => '-'.repeat(column(driver))).join('-|-')}`,
      ...attacks.map(
        (attack) =>
          `${attack.padEnd(width)} | ${drivers.map((driver) => (byDriver.get(driver)!.get(attack) ?? '—').padEnd(column(driver))).join(' | ')}`,
      ),
    ];
    process.stdout.write(`\nSandbox attacks (test/security):\n${lines.join('\n')}\n`);
  }
}

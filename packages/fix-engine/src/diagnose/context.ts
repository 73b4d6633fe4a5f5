import type { Finding } from '@ci-fixer/contract';
import { repoRelative } from './paths.ts';

/** What a parser knows besides the output: where the command ran, to turn printed paths into repo paths. */
export interface ParseContext {
  /** Absolute path of the repository root inside the sandbox. */
  workdir: string;
  /** The directory the command ran in, relative to the repository root ('' for the root). */
  cwd: string;
  /** The Go module path from go.mod, which `go test` prints instead of directories. */
  goModule?: string;
  /** The command that printed the output, when known: some tools print the same lines for different checks. */
  command?: string;
}

export type Parser = (output: string, context: ParseContext) => Finding[];

export function fileIn(context: ParseContext, printed: string): string {
  return repoRelative(printed, context.workdir, context.cwd);
}

export function dedupe(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((finding) => {
    const key = [
      finding.tool,
      finding.file,
      finding.line,
      finding.column,
      finding.rule,
      finding.message,
    ].join('|');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

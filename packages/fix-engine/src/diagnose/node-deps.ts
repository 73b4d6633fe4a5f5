import type { Finding } from '@ci-fixer/contract';
import { dedupe, fileIn, type ParseContext } from './context.ts';

// npm prints `npm error` (npm 10+) or `npm ERR!` (older) before every line of an error.
const NPM_PREFIX = /^npm (?:error|ERR!) ?/;
const LOCKFILE_DRIFT: { tool: string; file: string; pattern: RegExp }[] = [
  {
    tool: 'npm',
    file: 'package-lock.json',
    pattern: /`npm ci` can only install packages when your package\.json and package-lock\.json/,
  },
  { tool: 'pnpm', file: 'pnpm-lock.yaml', pattern: /ERR_PNPM_OUTDATED_LOCKFILE/ },
  {
    tool: 'yarn',
    file: 'yarn.lock',
    pattern: /Your lockfile needs to be updated, but yarn was run with `--frozen-lockfile`|YN0028/,
  },
  { tool: 'bun', file: 'bun.lock', pattern: /lockfile had changes, but lockfile is frozen/ },
];
// Node: `Cannot find package 'x' imported from /abs/file.mjs` (ESM) or `Cannot find module 'x'` followed by
// `Require stack:` and `- /abs/file.js` (CommonJS); Vite and Vitest: `Failed to resolve import "x" from "f"`.
const ESM_MISSING = /Cannot find (package|module) '([^']+)' imported from (\S+)/;
const CJS_MISSING = /^(?:Error: )?Cannot find module '([^']+)'$/;
const VITE_MISSING = /Failed to resolve import "([^"]+)" from "([^"]+)"/;

export function parseNodeDependencies(output: string, context: ParseContext): Finding[] {
  const lines = output.split('\n').map((line) => line.trimEnd());
  const findings: Finding[] = [];
  for (const drift of LOCKFILE_DRIFT) {
    if (!drift.pattern.test(output)) continue;
    findings.push({
      category: 'dependency',
      tool: drift.tool,
      file: fileIn(context, drift.file),
      rule: 'lockfile-drift',
      message: `${drift.file} is out of date with package.json`,
    });
  }
  if (lines.some((line) => /^npm (?:error|ERR!) code ERESOLVE$/.test(line))) {
    const npmLines = lines
      .filter((line) => NPM_PREFIX.test(line))
      .map((line) => line.replace(NPM_PREFIX, ''));
    const conflict = npmLines.findIndex((line) => line === 'Could not resolve dependency:');
    findings.push({
      category: 'dependency',
      tool: 'npm',
      file: fileIn(context, 'package.json'),
      rule: 'ERESOLVE',
      message: `dependency tree cannot be resolved${conflict >= 0 ? `: ${npmLines[conflict + 1]}` : ''}`,
    });
  }
  lines.forEach((line, index) => {
    const esm = ESM_MISSING.exec(line);
    const cjs = CJS_MISSING.exec(line.trim());
    const vite = VITE_MISSING.exec(line);
    let specifier: string | undefined;
    let importer: string | undefined;
    if (esm) [specifier, importer] = [esm[2], esm[3]];
    else if (vite) [specifier, importer] = [vite[1], vite[2]];
    else if (cjs) {
      specifier = cjs[1];
      const stackAt = lines.indexOf('Require stack:', index);
      if (stackAt > index && stackAt < index + 3) importer = lines[stackAt + 1]?.replace(/^- /, '');
    }
    if (!specifier) return;
    const relative = /^[./]/.test(specifier);
    findings.push({
      category: relative ? 'build' : 'dependency',
      tool: 'node',
      ...(importer ? { file: fileIn(context, importer) } : {}),
      rule: relative ? 'missing-file' : 'missing-module',
      message: `cannot find ${relative ? 'file' : 'package'} '${specifier}'`,
    });
  });
  return dedupe(findings);
}

import type { Diagnosis } from '@ci-fixer/jobs';
import type { Recipe } from './types.ts';

export type { Recipe } from './types.ts';

const filesOf = (diagnosis: Diagnosis, tool: string) => [
  ...new Set(
    diagnosis.findings.filter((finding) => finding.tool === tool && finding.file).map((f) => f.file!),
  ),
];

export const prettierWrite: Recipe = {
  name: 'prettier-write',
  requires: 'node_modules/.bin/prettier',
  claims: (diagnosis) => filesOf(diagnosis, 'prettier'),
  command: (files) => ['node_modules/.bin/prettier', '--write', '--', ...files],
};

export const eslintFix: Recipe = {
  name: 'eslint-fix',
  requires: 'node_modules/.bin/eslint',
  claims: (diagnosis) => filesOf(diagnosis, 'eslint'),
  command: (files) => ['node_modules/.bin/eslint', '--fix', '--', ...files],
};

/** In the order they are tried: formatting first, since lint autofixes may depend on it. */
export const RECIPES: readonly Recipe[] = [prettierWrite, eslintFix];

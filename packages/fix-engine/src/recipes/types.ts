import type { Diagnosis } from '@ci-fixer/jobs';

/**
 * A deterministic fix: a precondition on the diagnosis, the files it claims, and the argv that fixes them.
 * The engine rolls back any change outside the claimed files.
 */
export interface Recipe {
  readonly name: string;
  /** The files this recipe would fix for this diagnosis; empty when it does not apply. */
  claims(diagnosis: Diagnosis): string[];
  /** The repository's own tool, run from the repository root. */
  command(files: string[]): string[];
  /** The executable that must exist in the repository for the recipe to run. */
  readonly requires: string;
}

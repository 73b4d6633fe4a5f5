import type { Diagnosis } from '@ci-fixer/contract';

/**
 * A deterministic fix: a precondition on the diagnosis, the files it claims, and the argv that fixes them.
 * The engine rolls back any change outside the claimed files, and keeps a recipe's change only when the
 * command passes in the end.
 */
export interface Recipe {
  readonly name: string;
  /**
   * The files this recipe would fix for this diagnosis, relative to the repository root; empty when it does
   * not apply. `cwd` is the directory the command runs in, relative to the root.
   */
  claims(diagnosis: Diagnosis, cwd: string): string[];
  /**
   * Where the tool may be, first found wins: a path (containing `/`) is looked up in the working directory
   * and then the repository root; a bare name on PATH.
   */
  readonly executables: readonly string[];
  /**
   * The check's tool, when the recipe runs the same one: the options the check gives it (`gofmt -s`,
   * `isort --profile black`) are given to the fix too, or the fix would not be the one the check wants.
   */
  readonly tool?: 'gofmt' | 'prettier' | 'eslint' | 'black' | 'isort';
  /** The argv, run in the working directory; `files` are relative to it, `flags` the check's options. */
  command(executable: string, files: string[], flags: readonly string[]): string[];
}

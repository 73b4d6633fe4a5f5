/** What the worker needs to reproduce a failed CI job, recovered from the forge. */
export interface FailureContext {
  jobName: string;
  stepName: string;
  /** The command the sandbox runs: the step's script with its shell and working directory applied. */
  command: string;
  script: string;
  shell: string | null;
  workingDirectory: string | null;
  /** The failed job's log, condensed to error regions and the tail. */
  logs: string;
  /** Every failed job of the run, for re-running flaky ones. */
  failedJobIds: number[];
  /** Where the failing job can be seen. */
  jobUrl: string | null;
}

export type Recovery = { ok: true; context: FailureContext } | { ok: false; reason: string };

export const unrecoverable = (reason: string): Recovery => ({ ok: false, reason });

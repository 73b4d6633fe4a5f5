import { parse } from 'yaml';
import { cleanLog } from '../log.ts';
import type { CiStep } from '../reproduce.ts';

interface RunDefaults {
  shell?: string;
  'working-directory'?: string;
}
interface WorkflowStep {
  name?: string;
  run?: string;
  uses?: string;
  shell?: string;
  'working-directory'?: string;
}
interface WorkflowJob {
  name?: string;
  uses?: string;
  steps?: WorkflowStep[];
  defaults?: { run?: RunDefaults };
}
interface Workflow {
  jobs?: Record<string, WorkflowJob>;
  defaults?: { run?: RunDefaults };
}

/** A `##[group]Run …` block of a GitHub job log: the step's rendered script and shell, and whether it failed. */
export interface LogStep {
  title: string;
  script: string;
  shell: string | null;
  failed: boolean;
}

/** Reads the step groups of a job log; the runner prints each step's script and shell before running it. */
export function logSteps(log: string): LogStep[] {
  const steps: LogStep[] = [];
  let current: LogStep | undefined;
  let header: 'script' | 'rest' | 'done' = 'done';
  const script: string[] = [];
  for (const line of cleanLog(log)) {
    const group = /^##\[group\]Run (.*)$/.exec(line);
    if (group) {
      current = { title: group[1]!.trim(), script: '', shell: null, failed: false };
      steps.push(current);
      header = 'script';
      script.length = 0;
      continue;
    }
    if (!current) continue;
    if (header !== 'done') {
      if (line.startsWith('##[endgroup]')) {
        current.script = script.join('\n');
        header = 'done';
      } else if (header === 'script' && /^shell: /.test(line)) {
        current.shell = line.slice('shell: '.length).trim();
        header = 'rest';
      } else if (header === 'script') {
        script.push(line);
      }
      continue;
    }
    if (line.startsWith('##[group]')) current = undefined;
    else if (line.startsWith('##[error]')) current.failed = true;
  }
  return steps;
}

/** The shell setting a log's `shell:` line stands for, in the words a workflow would use. */
export function shellFromLog(line: string): string {
  const normalized = line.replace(/\s+/g, ' ').trim();
  if (/^\S*\/bash -e \{0\}$/.test(normalized)) return 'default';
  if (/^\S*\/bash --noprofile --norc -e -o pipefail \{0\}$/.test(normalized)) return 'bash';
  if (/^\S*\/sh -e \{0\}$/.test(normalized)) return 'sh';
  // Runner tool paths (hosted toolcache) do not exist in the sandbox; the program name does.
  return normalized.replace(/^\/\S*\/([^/\s]+)(?=\s)/, '$1');
}

export type StepMatch =
  { ok: true; jobKey: string; step: CiStep; stepName: string } | { ok: false; reason: string };

const firstLine = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trim())
    .find(Boolean) ?? '';

/** A workflow name with `${{ }}` expressions, as a pattern for the name GitHub rendered from it. */
function namePattern(name: string): RegExp {
  const parts = name.split(/\$\{\{.*?\}\}/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`);
}

function jobMatches(apiName: string, key: string, job: WorkflowJob): boolean {
  const name = job.name ?? key;
  const pattern = namePattern(name);
  // Matrix jobs are shown as `name (value, value)`.
  return pattern.test(apiName) || apiName.startsWith(`${name} (`) || apiName === key;
}

function stepName(step: WorkflowStep): string | undefined {
  if (step.name) return step.name;
  if (step.run) return `Run ${firstLine(step.run)}`;
  return step.uses ? `Run ${step.uses}` : undefined;
}

/**
 * Finds the failing step in the workflow file and recovers what the runner ran: the `run:` script (as the
 * log rendered it, when the workflow uses expressions), its shell and its working directory.
 */
export function findFailingStep(
  workflowYaml: string,
  apiJobName: string,
  apiStepName: string | undefined,
  log: string,
): StepMatch {
  let workflow: Workflow;
  try {
    workflow = (parse(workflowYaml, { merge: true }) ?? {}) as Workflow;
  } catch (error) {
    return { ok: false, reason: `the workflow file is not valid YAML: ${(error as Error).message}` };
  }
  const failedInLog = logSteps(log)
    .filter((step) => step.failed)
    .at(-1);
  const entry = Object.entries(workflow.jobs ?? {}).find(([key, job]) => jobMatches(apiJobName, key, job));
  if (!entry) {
    if (failedInLog) return fromLog(apiJobName, failedInLog);
    return { ok: false, reason: `job "${apiJobName}" is not in the workflow file` };
  }
  const [jobKey, job] = entry;
  if (job.uses) {
    return {
      ok: false,
      reason: `job "${apiJobName}" calls the reusable workflow ${job.uses}, which is not followed`,
    };
  }
  const steps = job.steps ?? [];
  const title = apiStepName ?? (failedInLog ? `Run ${failedInLog.title}` : undefined);
  const step =
    title === undefined
      ? undefined
      : (steps.find((candidate) => stepName(candidate) === title) ??
        steps.find((candidate) => {
          const name = stepName(candidate);
          return name !== undefined && namePattern(name).test(title);
        }));
  if (!step) {
    if (failedInLog) return fromLog(apiJobName, failedInLog, jobKey);
    return {
      ok: false,
      reason: `the failing step of job "${apiJobName}" could not be identified in the workflow or the log`,
    };
  }
  const name = stepName(step) ?? '(unnamed step)';
  if (!step.run) {
    return {
      ok: false,
      reason: `the failing step "${name}" runs the action ${step.uses ?? '(unknown)'}; only run: steps can be reproduced`,
    };
  }
  // The log shows the script after expression evaluation; prefer it when the workflow has expressions.
  const rendered =
    step.run.includes('${{') && failedInLog && firstLine(failedInLog.script) !== ''
      ? failedInLog.script
      : step.run;
  const shell =
    step.shell ??
    job.defaults?.run?.shell ??
    workflow.defaults?.run?.shell ??
    (failedInLog?.shell ? shellFromLog(failedInLog.shell) : undefined);
  const workingDirectory =
    step['working-directory'] ??
    job.defaults?.run?.['working-directory'] ??
    workflow.defaults?.run?.['working-directory'];
  return {
    ok: true,
    jobKey,
    stepName: name,
    step: {
      script: rendered,
      ...(shell ? { shell } : {}),
      ...(workingDirectory ? { workingDirectory } : {}),
    },
  };
}

function fromLog(apiJobName: string, logStep: LogStep, jobKey = apiJobName): StepMatch {
  if (!logStep.script.trim()) {
    return { ok: false, reason: `the log of job "${apiJobName}" does not show the failing step's script` };
  }
  return {
    ok: true,
    jobKey,
    stepName: `Run ${logStep.title}`,
    step: { script: logStep.script, ...(logStep.shell ? { shell: shellFromLog(logStep.shell) } : {}) },
  };
}

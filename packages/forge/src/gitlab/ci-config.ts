import { parse } from 'yaml';
import type { CiStep } from '../reproduce.ts';

type Script = string | Script[];
interface CiJob {
  script?: Script;
  before_script?: Script;
  extends?: string | string[];
  trigger?: unknown;
}
type CiConfig = Record<string, unknown> & { default?: { before_script?: Script }; before_script?: Script };

export type JobMatch = { ok: true; step: CiStep } | { ok: false; reason: string };

// parallel jobs are named `test 1/3`; parallel:matrix jobs `test: [a, b]`.
const baseName = (name: string) => name.replace(/ \d+\/\d+$/, '').replace(/: \[.*\]$/, '');

const flatten = (script: Script | undefined): string[] =>
  script === undefined ? [] : Array.isArray(script) ? script.flatMap(flatten) : [script];

/** The failed job's `before_script` and `script`, as the runner runs them, from .gitlab-ci.yml. */
export function findGitLabJob(configYaml: string, jobName: string): JobMatch {
  let config: CiConfig;
  try {
    config = (parse(configYaml, { merge: true }) ?? {}) as CiConfig;
  } catch (error) {
    return { ok: false, reason: `.gitlab-ci.yml is not valid YAML: ${(error as Error).message}` };
  }
  const name = baseName(jobName);
  const job = resolve(config, name, new Set());
  if (!job) {
    return {
      ok: false,
      reason: `job "${jobName}" is not defined in .gitlab-ci.yml (included files are not followed)`,
    };
  }
  if (job.trigger) return { ok: false, reason: `job "${jobName}" triggers a downstream pipeline` };
  const script = flatten(job.script);
  if (script.length === 0) return { ok: false, reason: `job "${jobName}" has no script` };
  const before = flatten(job.before_script ?? config.default?.before_script ?? config.before_script);
  return { ok: true, step: { script: [...before, ...script].join('\n'), shell: 'gitlab' } };
}

/** A job with its `extends` chain applied: keys of the job win over the templates it extends. */
function resolve(config: CiConfig, name: string, seen: Set<string>): CiJob | undefined {
  const job = config[name];
  if (!job || typeof job !== 'object' || Array.isArray(job) || seen.has(name)) return undefined;
  seen.add(name);
  const own = job as CiJob;
  const parents = own.extends === undefined ? [] : Array.isArray(own.extends) ? own.extends : [own.extends];
  const merged: CiJob = {};
  for (const parent of parents) Object.assign(merged, resolve(config, parent, seen) ?? {});
  return { ...merged, ...own };
}

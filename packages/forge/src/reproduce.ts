/**
 * Turns a CI step (its script, shell and working directory) into one bash command for the sandbox, with
 * the semantics the CI runner gives it: GitHub runs `bash -e {0}` by default and
 * `bash --noprofile --norc -eo pipefail {0}` for `shell: bash`; GitLab runs scripts with `set -eo pipefail`.
 */
export interface CiStep {
  script: string;
  /** The CI's shell setting: a known name (bash, sh, python, pwsh) or a template with `{0}`. */
  shell?: string;
  workingDirectory?: string;
}

export type Reproduction = { ok: true; command: string } | { ok: false; reason: string };

const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

const SHELL_TEMPLATES: Record<string, string> = {
  bash: 'bash --noprofile --norc -eo pipefail {0}',
  sh: 'sh -e {0}',
  python: 'python {0}',
  pwsh: 'pwsh -command ". \'{0}\'"',
  powershell: 'pwsh -command ". \'{0}\'"',
};

export function reproductionCommand(step: CiStep): Reproduction {
  const script = step.script.replace(/\s+$/, '');
  if (!script.trim()) return { ok: false, reason: 'the failing step has an empty script' };
  if (/\$\{\{/.test(script)) {
    return {
      ok: false,
      reason: 'the failing step uses ${{ }} expressions that only the CI runner can evaluate',
    };
  }
  const cd = step.workingDirectory ? `cd -- ${quote(step.workingDirectory)}\n` : '';
  const shell = step.shell?.trim();
  if (!shell || shell === 'default') return { ok: true, command: `${cd}set -e\n${script}` };
  if (shell === 'bash' || shell === 'gitlab')
    return { ok: true, command: `${cd}set -eo pipefail\n${script}` };
  const template = SHELL_TEMPLATES[shell] ?? shell;
  if (!template.includes('{0}')) {
    return { ok: false, reason: `the step's shell "${shell}" is not one ci-fixer can reproduce` };
  }
  const extension = shell === 'pwsh' || shell === 'powershell' ? '.ps1' : '';
  const delimiter = 'CI_FIXER_STEP_SCRIPT';
  if (script.split('\n').includes(delimiter))
    return { ok: false, reason: 'the step script cannot be quoted' };
  return {
    ok: true,
    command:
      `${cd}step_script="$(mktemp)${extension}"\n` +
      `cat > "$step_script" <<'${delimiter}'\n${script}\n${delimiter}\n` +
      template.replace('{0}', '"$step_script"'),
  };
}

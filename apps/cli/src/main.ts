import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import {
  checkRepoUrl,
  fixRequestSchema,
  type FixRequest,
  type FixResult,
  type Stage,
} from '@ci-fixer/contract';
import { loadConfig, ConfigError } from '@ci-fixer/config';

const USAGE = `Usage: ci-fixer fix <path-or-url> --command "<cmd>" [--ref <branch>] [--sha <commit>] [--driver <name>] [--json] [--verbose]

Clones the repository into a local sandbox, runs the command, and when it fails, diagnoses and fixes it
and proves the fix by running the command again. Exits 0 only when the result is "fixed".

  --command, -c   the failing CI command, run with bash in the repository root
  --ref           branch or tag to check out (default: the repository's HEAD)
  --sha           commit to check out
  --driver        sandbox driver: local (default), docker or kubernetes; the same as SANDBOX_DRIVER
  --json          print the result as JSON on stdout, and nothing else there
  --verbose, -v   stream every command's output to stderr
`;

const STAGE_LABELS: Record<Stage, string> = {
  cloning: 'Cloning the repository',
  installing: 'Installing dependencies',
  reproducing: 'Reproducing the failure',
  diagnosing: 'Diagnosing the output',
  fixing: 'Applying fixes',
  verifying: 'Verifying the fix',
};

const OPTIONS = {
  command: { type: 'string', short: 'c' },
  ref: { type: 'string' },
  sha: { type: 'string' },
  driver: { type: 'string' },
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Node's own parser; its errors (an unknown flag, a missing value) become usage errors with the usage. */
function parseArguments(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${USAGE}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArguments(argv);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [verb, target] = positionals;
  if (verb !== 'fix' || !target || !values.command) {
    process.stderr.write(USAGE);
    return 2;
  }

  // The CLI talks to no Redis: a REDIS_URL meant for the platform must not stop it.
  const config = loadConfig({
    ...process.env,
    REDIS_URL: undefined,
    ...(values.driver ? { SANDBOX_DRIVER: values.driver } : {}),
  });
  const request = buildRequest(target, values, config.CI_FIXER_REPO_HOSTS);
  // Loaded only for a run, so that --help and usage errors answer at once.
  const [{ fixInSandbox }, { createDriver, expandEgress, passthrough, sandboxLimits }] = await Promise.all([
    import('@ci-fixer/fix-engine'),
    import('@ci-fixer/sandbox'),
  ]);
  // Sandboxes of CLI runs live apart from any worker's, so that neither reaps the other's.
  const driver = await createDriver(config, 'cli');
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const { warnings } = await driver.preflight();
  for (const warning of warnings) say(`warning: ${warning}`);
  const inherited = passthrough(config.SANDBOX_ENV_PASSTHROUGH);
  const egress = await expandEgress(config.SANDBOX_EGRESS_ALLOW);
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  let lastStage: Stage | undefined;
  let shown = 0;
  let result: FixResult;
  try {
    result = await fixInSandbox(driver, request, {
      owner: `cli-${process.pid}`,
      env: inherited.env,
      hostFiles: inherited.files,
      egress,
      commandTimeoutMs: config.SANDBOX_COMMAND_TIMEOUT_SECONDS * 1000,
      limits: sandboxLimits(config),
      patchGuard: config,
      signal: abort.signal,
      onProgress: ({ stage, steps }) => {
        if (stage !== lastStage) say(`▸ ${STAGE_LABELS[stage]} (${elapsed()})`);
        lastStage = stage;
        const step = steps.at(-1);
        if (step && steps.length > shown) {
          shown = steps.length;
          say(
            `  $ ${step.command}  → exit ${step.exitCode}${step.timedOut ? ' (timed out)' : ''} in ${step.durationMs} ms`,
          );
        }
      },
      ...(values.verbose ? { onOutput: (chunk: string) => process.stderr.write(chunk) } : {}),
    });
  } finally {
    await driver.close();
  }

  if (values.json) process.stdout.write(`${JSON.stringify(toJson(result), null, 2)}\n`);
  else printResult(result);
  return result.outcome === 'fixed' ? 0 : 1;
}

function buildRequest(
  target: string,
  values: { command?: string; ref?: string; sha?: string },
  allowedHosts: string[],
): FixRequest {
  const url = target.startsWith('file://')
    ? fileURLToPath(target)
    : looksLocal(target)
      ? path.resolve(target)
      : target;
  const parsed = fixRequestSchema.safeParse({
    repo: { url, ...(values.ref ? { ref: values.ref } : {}), ...(values.sha ? { sha: values.sha } : {}) },
    command: values.command,
  });
  if (!parsed.success) {
    throw new UsageError(
      parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '),
    );
  }
  // A person at their own terminal may always fix their own checkout; remote URLs follow the configured hosts.
  const check = checkRepoUrl(parsed.data.repo.url, { allowFileRepos: true, allowedHosts });
  if (!check.ok) throw new UsageError(check.reason);
  parsed.data.repo.url = check.url; // git gets the normalised URL
  return parsed.data;
}

function looksLocal(target: string): boolean {
  return (
    target.startsWith('.') || target.startsWith('/') || !/^[a-z][a-z0-9+.-]*:|^[^/]+@[^/]+:/i.test(target)
  );
}

function printResult(result: FixResult): void {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out();
  out(`Result: ${result.outcome} — ${result.reason}`);
  if (result.diagnosis) {
    out(`Diagnosis: ${result.diagnosis.summary}`);
    for (const finding of result.diagnosis.findings.slice(0, 20)) {
      const where = finding.file ? `${finding.file}${finding.line ? `:${finding.line}` : ''}` : '';
      out(
        `  [${finding.category}] ${finding.tool}${where ? ` ${where}` : ''}: ${finding.message.split('\n')[0]}`,
      );
    }
  }
  if (result.patch) {
    out();
    out(`Patch (${result.strategy}), applies to ${result.baseSha} with \`git apply\`:`);
    out(result.patch.trimEnd());
  }
}

/** The result under the names the API's job view uses: `status` is the outcome. */
function toJson({ outcome, ...rest }: FixResult) {
  return { status: outcome, ...rest };
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`ci-fixer: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`ci-fixer: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(3);
  },
);

import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FixResult } from '@ci-fixer/contract';
import { expandEgress, LABELS, MANAGED_BY, passthrough, type SandboxDriver } from '@ci-fixer/sandbox';
import { LocalDriver } from '@ci-fixer/sandbox/local';
import type { CorpusCase } from '../corpus/cases.ts';
import { cacheEnvironment } from '../src/cache-env.ts';
import { fixInSandbox } from '../src/fix-in-sandbox.ts';
import type { FixOptions } from '../src/pipeline.ts';
import { detectToolchains } from '../src/toolchain.ts';

export interface CaseResult {
  case: CorpusCase;
  result: FixResult;
  /** For `fixed`: whether the patch, applied to a fresh clone, makes the command (and verify command) pass. */
  verified: boolean | null;
  verifyDetail: string;
  durationMs: number;
}

export interface CaseRunOptions {
  driver?: SandboxDriver;
  /** Root of the dependency caches, shared by every case of one run. */
  cacheDir?: string;
  agent?: FixOptions['agent'];
  commandTimeoutMs?: number;
}

const SANDBOX_ENV = ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'GIT_SSL_CAINFO'];
const OWNER = 'fix-engine-eval';
let registries: Promise<string[]> | undefined;

let shared: LocalDriver | undefined;
/**
 * Sandboxes under a root of this process's own: a worker on the same host reaps sandboxes of the default
 * root whose owner has no heartbeat, and the evaluation has none.
 */
function privateDriver(): LocalDriver {
  shared ??= new LocalDriver({ root: path.join(os.tmpdir(), `ci-fixer-eval-sandboxes-${process.pid}`) });
  return shared;
}

/** Runs one corpus repository through the real pipeline in a LocalDriver sandbox, then checks a fix independently. */
export async function runCase(
  corpusCase: CorpusCase,
  repoDir: string,
  options: CaseRunOptions = {},
): Promise<CaseResult> {
  const driver = options.driver ?? privateDriver();
  const started = performance.now();
  const inherited = passthrough(SANDBOX_ENV);
  const result = await fixInSandbox(
    driver,
    {
      repo: { url: pathToFileURL(repoDir).href },
      command: corpusCase.command,
      ...(corpusCase.workingDirectory ? { workingDirectory: corpusCase.workingDirectory } : {}),
      ...(corpusCase.verifyCommand ? { verifyCommand: corpusCase.verifyCommand } : {}),
    },
    {
      owner: OWNER,
      env: inherited.env,
      hostFiles: inherited.files,
      egress: await (registries ??= expandEgress(['registries'])),
      ...(options.cacheDir ? { cache: { root: options.cacheDir, scope: 'shared' as const } } : {}),
      commandTimeoutMs: options.commandTimeoutMs ?? 300_000,
      ...(corpusCase.limits ? { limits: corpusCase.limits } : {}),
      ...(options.agent ? { agent: options.agent } : {}),
    },
  );
  const durationMs = Math.round(performance.now() - started);
  if (result.outcome !== 'fixed')
    return { case: corpusCase, result, verified: null, verifyDetail: '', durationMs };
  const check = await checkPatch(corpusCase, repoDir, result.patch ?? '', driver, options.cacheDir);
  return { case: corpusCase, result, verified: check.ok, verifyDetail: check.detail, durationMs };
}

/**
 * A fix counts only if its patch, applied to a fresh clone in a fresh sandbox, makes the command pass after
 * a normal install: the engine's own verification is not taken on trust.
 */
async function checkPatch(
  corpusCase: CorpusCase,
  repoDir: string,
  patch: string,
  driver: SandboxDriver,
  cacheDir: string | undefined,
): Promise<{ ok: boolean; detail: string }> {
  if (!patch.trim()) return { ok: false, detail: 'fixed with an empty patch' };
  // An independent check, not a fix: the same kind of sandbox fixInSandbox makes, with the same cache.
  const sharedCache = cacheDir ? path.join(cacheDir, 'shared') : undefined;
  const inherited = passthrough(SANDBOX_ENV);
  const sandbox = await driver.create({
    labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: OWNER },
    env: inherited.env,
    readOnlyHostPaths: [repoDir, ...inherited.files],
    egress: await (registries ??= expandEgress(['registries'])),
    ...(sharedCache ? { cacheDir: sharedCache } : {}),
  });
  try {
    const env = { CI: 'true', ...cacheEnvironment(sandbox.cacheDir) };
    const cwd = corpusCase.workingDirectory ?? '.';
    const run = async (argv: string[], where = cwd) => {
      const result = await sandbox.exec(argv, { env, cwd: where, timeoutMs: 300_000 });
      return { ok: result.exitCode === 0, output: `${result.stdout}\n${result.stderr}`.trim().slice(-600) };
    };
    const steps: [string, string[], string?][] = [
      ['clone', ['git', 'clone', '-q', pathToFileURL(repoDir).href, '.'], '.'],
    ];
    for (const [what, argv, where] of steps) {
      const step = await run(argv, where);
      if (!step.ok) return { ok: false, detail: `${what} failed: ${step.output}` };
    }
    await sandbox.writeFile('.fix.patch', patch);
    const applied = await run(['git', 'apply', '--whitespace=nowarn', '.fix.patch'], '.');
    if (!applied.ok) return { ok: false, detail: `the patch does not apply: ${applied.output}` };
    await sandbox.exec(['rm', '.fix.patch']);
    // Committed, as CI sees a fix: checks that compare the tree with HEAD (`git diff --exit-code`) included.
    const identity = ['-c', 'user.name=eval', '-c', 'user.email=eval@example.invalid'];
    const committed = await run(['git', ...identity, 'commit', '-qam', 'fix', '--no-verify'], '.');
    if (!committed.ok) return { ok: false, detail: `the patch cannot be committed: ${committed.output}` };
    const listing = await sandbox.exec(['ls', '-A'], { cwd });
    const toolchains = await detectToolchains({
      names: listing.stdout.split('\n').filter(Boolean),
      read: async (name) => (await sandbox.readFile(`${cwd}/${name}`).catch(() => undefined))?.toString(),
    });
    // An install that fails is noted, not final: the check may not need it (as for the engine).
    const installFailures: string[] = [];
    for (const toolchain of toolchains) {
      if (!toolchain.install) continue;
      const install = await run(toolchain.install);
      if (!install.ok) installFailures.push(`${toolchain.install.join(' ')} failed: ${install.output}`);
    }
    for (const command of [corpusCase.command, corpusCase.verifyCommand].filter((c) => c !== undefined)) {
      const passed = await run(['bash', '-c', command]);
      if (!passed.ok)
        return {
          ok: false,
          detail: `\`${command}\` still fails with the patch: ${passed.output}${installFailures.map((f) => `; ${f}`).join('')}`,
        };
    }
    return { ok: true, detail: 'the patch applies to a fresh clone and the command passes' };
  } finally {
    await sandbox.destroy();
  }
}

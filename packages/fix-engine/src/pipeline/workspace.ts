import type { FixRequest } from '@ci-fixer/contract';
import type { Sandbox } from '@ci-fixer/sandbox';
import { gitProtocolEnv } from '../git-env.ts';
import { fetchRefusal } from '../repo-access.ts';
import { WorkTree } from '../work-tree.ts';
import { stepFailure, type StepRunner } from './steps.ts';

// Dependencies, caches and build droppings in the workspace must never show up in a patch.
const EXCLUDES = [
  'node_modules/',
  '.pnpm-store/',
  '.yarn/cache/',
  '.eslintcache',
  '__pycache__/',
  '*.pyc',
  '.pytest_cache/',
  '.mypy_cache/',
  '.venv/',
];

/**
 * Fetches the requested commit into the sandbox's workdir and checks it out detached; the tree it returns
 * takes snapshots, rolls files back and makes patches against that commit.
 */
export async function checkOut(
  steps: StepRunner,
  sandbox: Sandbox,
  repo: FixRequest['repo'],
  gitAuthHeader: string | undefined,
): Promise<{ baseSha: string; tree: WorkTree }> {
  const { url, sha, ref } = repo;
  await steps.must(['git', 'init', '-q', '.'], 'git init');
  // Fetched by URL, never stored as a remote, so no URL (and later no credential) lands in .git/config.
  const shallowTarget = sha && sha.length === 40 ? sha : sha ? undefined : (ref ?? 'HEAD');
  const auth = gitProtocolEnv(url, gitAuthHeader ? [['http.extraHeader', gitAuthHeader]] : []);
  const shallow = shallowTarget
    ? await steps.exec(['git', 'fetch', '-q', '--depth', '1', '--no-tags', '--', url, shallowTarget], {
        env: auth,
        cwd: '',
      })
    : undefined;
  if (!shallow || shallow.exitCode !== 0) {
    const full = await steps.exec(
      ['git', 'fetch', '-q', '--no-tags', '--', url, '+refs/heads/*:refs/remotes/origin/*'],
      { env: auth, cwd: '' },
    );
    // A repository that is missing or refuses us is the user's to fix (not retried); a host that is down is not.
    if (full.exitCode !== 0) throw fetchRefusal(url, full) ?? stepFailure(`cannot fetch ${url}`, full);
  }
  const target = shallow?.exitCode === 0 ? 'FETCH_HEAD' : (sha ?? `origin/${ref ?? 'HEAD'}`);
  await steps.must(['git', 'checkout', '-q', '--detach', target], `cannot check out ${sha ?? ref ?? 'HEAD'}`);
  const baseSha = (
    await steps.must(['git', 'rev-parse', 'HEAD'], 'git rev-parse', { record: false })
  ).stdout.trim();
  const tree = new WorkTree(async (args, { check = false } = {}) => {
    const argv = ['git', ...args];
    const options = { record: false, cwd: '' };
    return check ? steps.must(argv, argv.slice(0, 2).join(' '), options) : steps.exec(argv, options);
  }, baseSha);
  const exclude = await sandbox.readFile('.git/info/exclude').catch(() => Buffer.alloc(0));
  await sandbox.writeFile('.git/info/exclude', `${exclude.toString()}\n${EXCLUDES.join('\n')}\n`);
  return { baseSha, tree };
}

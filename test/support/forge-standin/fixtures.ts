import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A GitHub workflow as projects write it: the failing step is a `run:` step after `uses:` steps. */
export const WORKFLOW = `name: test
on: [push, pull_request]
jobs:
  format:
    name: Format check
    runs-on: ubuntu-latest
    defaults:
      run:
        shell: bash
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 24
      - run: npm install --no-package-lock
      - name: Check formatting
        run: npx prettier --check src
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Deploy preview
        uses: example/deploy-action@v1
`;

export const GITLAB_CI = `default:
  image: node:24
  before_script:
    - node --version

stages: [test]

.node:
  stage: test
  script:
    - echo "overridden"

format:
  extends: .node
  script:
    - npx prettier --check src
`;

const PACKAGE_JSON = JSON.stringify(
  { name: 'forge-fixture', private: true, type: 'module', devDependencies: { prettier: '3.10.1' } },
  null,
  2,
);

const stamp = (line: string) => `2026-01-10T10:00:0${line.length % 10}.1234567Z ${line}`;

/** A GitHub job log as the runner writes it: timestamps, ANSI colours, the step's group and the error. */
export const GITHUB_FORMAT_LOG = [
  '##[group]Run actions/checkout@v4',
  'with:',
  '  repository: octo-org/octo-repo',
  '##[endgroup]',
  'Syncing repository: octo-org/octo-repo',
  '##[group]Run npm install --no-package-lock',
  '\u001b[36;1mnpm install --no-package-lock\u001b[0m',
  'shell: /usr/bin/bash --noprofile --norc -e -o pipefail {0}',
  '##[endgroup]',
  'added 1 package in 2s',
  '##[group]Run npx prettier --check src',
  '\u001b[36;1mnpx prettier --check src\u001b[0m',
  'shell: /usr/bin/bash --noprofile --norc -e -o pipefail {0}',
  '##[endgroup]',
  'Checking formatting...',
  '[warn] src/index.js',
  '[warn] Code style issues found in the above file. Run Prettier with --write to fix.',
  '##[error]Process completed with exit code 1.',
]
  .map(stamp)
  .join('\n');

export const GITHUB_DEPLOY_LOG = [
  '##[group]Run example/deploy-action@v1',
  '##[endgroup]',
  'deploy failed: preview environment unavailable',
  '##[error]Deployment failed',
]
  .map(stamp)
  .join('\n');

export const GITLAB_FORMAT_TRACE = [
  '\u001b[0KRunning with gitlab-runner 17.4.0 (b92ee590)\u001b[0;m',
  'section_start:1736503200:prepare_script\r\u001b[0K\u001b[0K\u001b[36;1mPreparing environment\u001b[0;m',
  'Running on runner-abc via docker...',
  'section_end:1736503201:prepare_script\r\u001b[0K',
  'section_start:1736503201:step_script\r\u001b[0K\u001b[0K\u001b[36;1mExecuting "step_script" stage of the job script\u001b[0;m',
  '\u001b[32;1m$ node --version\u001b[0;m',
  'v24.11.0',
  '\u001b[32;1m$ npx prettier --check src\u001b[0;m',
  'Checking formatting...',
  '[warn] src/index.js',
  '[warn] Code style issues found in the above file. Run Prettier with --write to fix.',
  'section_end:1736503210:step_script\r\u001b[0K',
  '\u001b[31;1mERROR: Job failed: exit code 1\u001b[0;m',
].join('\n');

export interface BareRepo {
  bare: string;
  sha: string;
  git: (...args: string[]) => string;
}

/** A real bare repository whose `branch` holds a badly formatted file, the workflow and .gitlab-ci.yml. */
export function createBareRepo(
  branch: string,
  parent = mkdtempSync(path.join(os.tmpdir(), 'cif-forge-')),
): BareRepo {
  const work = path.join(parent, 'work');
  const bare = path.join(parent, 'origin.git');
  const files: Record<string, string> = {
    'package.json': `${PACKAGE_JSON}\n`,
    '.gitignore': 'node_modules/\n',
    '.prettierrc.json': '{ "singleQuote": true }\n',
    'src/index.js': 'export const answer = {value:42,\n    unit:   "none"}\n',
    '.github/workflows/test.yml': WORKFLOW,
    '.gitlab-ci.yml': GITLAB_CI,
  };
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
    writeFileSync(path.join(work, file), content);
  }
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'Fixture',
    GIT_AUTHOR_EMAIL: 'fixture@example.com',
    GIT_COMMITTER_NAME: 'Fixture',
    GIT_COMMITTER_EMAIL: 'fixture@example.com',
  };
  const run = (cwd: string, ...args: string[]) =>
    execFileSync('git', args, { cwd, env, encoding: 'utf8' }).trim();
  run(work, 'init', '-q', '-b', branch);
  run(work, 'add', '-A');
  run(work, 'commit', '-qm', 'Add the answer');
  run(parent, 'clone', '-q', '--bare', work, bare);
  return { bare, sha: run(work, 'rev-parse', 'HEAD'), git: (...args) => run(bare, ...args) };
}

import { PermanentError } from '@ci-fixer/contract';
import type { ExecResult } from '@ci-fixer/sandbox';

// What git prints when the repository is not there, or not there for these credentials; network faults,
// 5xx answers and a proxy's refusal (`Received HTTP code 403 from proxy`) match neither.
const NOT_FOUND = [
  /does not appear to be a git repository/,
  /^fatal: repository '[^']*' not found$/m,
  /^(?:remote: |ERROR: )?Repository not found\.?$/im,
  /The requested URL returned error: 404\b/,
];
const REFUSED = [
  /^fatal: Authentication failed for /m,
  /^fatal: could not read (?:Username|Password) for /m,
  /The requested URL returned error: 40[13]\b/,
  /Permission denied \(publickey/,
];

/**
 * A failed `git fetch` of the job's repository, when its output says the repository is missing or the
 * credentials were refused: the user's to fix, so the job fails at once instead of being retried.
 * Undefined for anything else, which stays a platform error.
 */
export function fetchRefusal(url: string, fetch: ExecResult): PermanentError | undefined {
  if (fetch.exitCode === 0 || fetch.timedOut || fetch.aborted) return undefined;
  const output = `${fetch.stderr}\n${fetch.stdout}`;
  const said = output
    .split('\n')
    .find((line) => [...NOT_FOUND, ...REFUSED].some((pattern) => pattern.test(line)))
    ?.trim();
  const context = { repository: url, exitCode: fetch.exitCode };
  if (NOT_FOUND.some((pattern) => pattern.test(output)))
    return new PermanentError(
      'repository-not-found',
      `repository not found: check the URL and the credentials (${url}; git: ${said})`,
      { context },
    );
  if (REFUSED.some((pattern) => pattern.test(output)))
    return new PermanentError(
      'auth-refused',
      `the git host refused the credentials for ${url}: check the token and its access (git: ${said})`,
      { context },
    );
  return undefined;
}

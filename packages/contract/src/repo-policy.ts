import path from 'node:path';

export interface RepoPolicy {
  /** Accept file:// URLs and absolute paths (local use and tests). */
  allowFileRepos: boolean;
  /**
   * Hosts whose https, ssh and scp-style URLs are accepted, lower-case. `host` allows the scheme's default
   * port only; `host:port` allows exactly that port.
   */
  allowedHosts: readonly string[];
}

/** `url` is the normalised form: the only string a caller may hand to git. */
export type RepoCheck = { ok: true; url: string } | { ok: false; reason: string };

const FORMS = 'use https://host/owner/repo, ssh://git@host/owner/repo or git@host:owner/repo';
const DEFAULT_PORT: Record<string, number> = { https: 443, ssh: 22 };

// One DNS name (or IPv4 literal): dot-separated labels of letters, digits and inner hyphens. No empty label,
// so no trailing dot; no brackets, so no IPv6 literal (the allow-list cannot name one either).
const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// Path characters every parser reads alike: unreserved characters, `/`, `+` and percent escapes. No `?`, `#`,
// `@`, `;`, quotes or `\`, so nothing can end the path early in one parser and not in another.
const PATH_CHARS = /^(?:[A-Za-z0-9._~/+-]|%[0-9A-Fa-f]{2})+$/;
// scheme://[git@]host[:port]/path, written out so that nothing is left to a parser's leniency.
const URL_FORM = /^([a-z][a-z0-9+.-]*):\/\/(?:([^@/]*)@)?([^/:]*)(?::([^/]*))?(\/.*)?$/i;
// [git@]host:path, which git reads as ssh when no `/` comes before the first `:`.
const SCP_FORM = /^(?:([^@/:]*)@)?([^/:]+):(?!\/\/)(.+)$/;

/**
 * Decides whether a repository URL may be cloned, says why not in words a caller can act on, and returns the
 * normalised URL. The check is a grammar of its own rather than `new URL()`: Node's WHATWG parser, git and
 * curl disagree on backslashes, `@` in odd places, percent escapes, whitespace and dot segments, so anything
 * outside the one form all three read alike is refused (see packages/contract/test/repo-url.test.ts).
 */
export function checkRepoUrl(url: string, policy: RepoPolicy): RepoCheck {
  if (url.startsWith('-')) return deny('a repository URL must not start with "-"');
  // Control characters (newlines included) are refused in every form: they end lines in logs and in git's
  // own configuration and protocol.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(url)) return deny('the repository URL contains a control character');

  if (url.startsWith('file://') || path.isAbsolute(url)) {
    if (!policy.allowFileRepos) {
      return deny('local repositories are disabled; set CI_FIXER_ALLOW_FILE_REPOS=true to allow them');
    }
    if (url.startsWith('file://') && !url.startsWith('file:///')) {
      return deny('a file:// URL must not name a host; use file:///absolute/path');
    }
    return { ok: true, url };
  }

  if (/[^\x21-\x7e]/.test(url)) {
    return deny('the repository URL contains whitespace or a non-ASCII character; percent-encode the path');
  }
  if (url.includes('\\')) return deny('the repository URL contains a backslash; use "/"');

  const form = URL_FORM.exec(url);
  if (form) return checkUrlForm(form, policy);
  const scp = SCP_FORM.exec(url);
  if (scp) return checkScpForm(scp, policy);
  return deny(`not a URL; ${FORMS}`);
}

function checkUrlForm(form: RegExpExecArray, policy: RepoPolicy): RepoCheck {
  const [, rawScheme, user, rawHost, rawPort, rawPath] = form;
  const scheme = rawScheme!.toLowerCase();
  if (scheme !== 'https' && scheme !== 'ssh') {
    return deny(`the ${scheme} scheme is not accepted; use https:// or ssh://`);
  }
  if (user !== undefined && !(scheme === 'ssh' && user === 'git')) {
    return deny(
      'credentials in the URL are not accepted (only the git@ user of ssh URLs); configure forge credentials on the worker instead',
    );
  }
  const host = checkHostName(rawHost!);
  if (typeof host !== 'string') return host;

  let port = '';
  if (rawPort !== undefined) {
    if (!/^[1-9][0-9]{0,4}$/.test(rawPort) || Number(rawPort) > 65535) {
      return deny(`the port "${rawPort}" is not a port number (1-65535 without leading zeros)`);
    }
    if (Number(rawPort) !== DEFAULT_PORT[scheme]) port = rawPort;
  }
  const allowed = checkAllowed(host, port, policy);
  if (allowed) return allowed;

  const repoPath = checkPath(rawPath ?? '');
  if (typeof repoPath !== 'string') return repoPath;
  const normalised = `${scheme}://${user ? 'git@' : ''}${host}${port ? `:${port}` : ''}${repoPath}`;

  // Defence in depth: the WHATWG parser must read the same host, port and path out of the normalised form.
  const parsed = new URL(normalised);
  if (parsed.hostname !== host || parsed.port !== port || parsed.pathname !== repoPath) {
    return deny(`the repository URL is ambiguous; ${FORMS}`);
  }
  return { ok: true, url: normalised };
}

function checkScpForm(scp: RegExpExecArray, policy: RepoPolicy): RepoCheck {
  const [, user, rawHost, rawPath] = scp;
  if (user !== undefined && user !== 'git') {
    return deny('only the git@ user is accepted in host:path URLs; configure credentials on the worker');
  }
  const host = checkHostName(rawHost!);
  if (typeof host !== 'string') return host;
  const allowed = checkAllowed(host, '', policy);
  if (allowed) return allowed;
  // git hands an scp path to the remote shell as an argument: it must not look like an option.
  if (rawPath!.startsWith('-')) return deny('the repository path must not start with "-"');
  const repoPath = checkPath(rawPath!.startsWith('/') ? rawPath! : `/${rawPath}`);
  if (typeof repoPath !== 'string') return repoPath;
  return { ok: true, url: `${user ? 'git@' : ''}${host}:${rawPath}` };
}

function checkHostName(raw: string): string | RepoCheck {
  if (raw.includes('%')) return deny('the host must not contain percent escapes');
  const host = raw.toLowerCase();
  if (!HOST.test(host)) return deny(`"${raw}" is not a host name; ${FORMS}`);
  return host;
}

/** Undefined when allowed, else the refusal. */
function checkAllowed(host: string, port: string, policy: RepoPolicy): RepoCheck | undefined {
  const entry = port ? `${host}:${port}` : host;
  if (policy.allowedHosts.includes(entry)) return undefined;
  const hosts = policy.allowedHosts.join(', ');
  if (port && policy.allowedHosts.includes(host)) {
    return deny(
      `port ${port} on ${host} is not allowed; list ${entry} in CI_FIXER_REPO_HOSTS to allow it (allowed: ${hosts})`,
    );
  }
  return deny(`host ${entry} is not allowed; allowed hosts: ${hosts} (CI_FIXER_REPO_HOSTS)`);
}

function checkPath(repoPath: string): string | RepoCheck {
  if (!repoPath || repoPath === '/' || !PATH_CHARS.test(repoPath)) {
    return deny(
      `the repository path must be /owner/repo of letters, digits and ._~+-/ (percent-encode the rest); ${FORMS}`,
    );
  }
  // Dot segments are removed by Node and curl but not by every git transport; refuse rather than guess.
  if (repoPath.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment))) {
    return deny('the repository path must not contain "." or ".." segments');
  }
  if (/%2f|%5c|%00/i.test(repoPath)) {
    return deny('the repository path must not contain encoded "/", "\\" or NUL');
  }
  return repoPath;
}

function deny(reason: string): RepoCheck {
  return { ok: false, reason };
}

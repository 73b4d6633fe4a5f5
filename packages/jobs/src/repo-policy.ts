import path from 'node:path';

export interface RepoPolicy {
  /** Accept file:// URLs and absolute paths (local use and tests). */
  allowFileRepos: boolean;
  /** Hosts whose https, ssh and scp-style URLs are accepted, lower-case, optionally with a port. */
  allowedHosts: readonly string[];
}

export type RepoCheck = { ok: true } | { ok: false; reason: string };

const SCP_STYLE = /^(?:[A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+):(?!\/\/)[^\s]+$/;

/** Decides whether a repository URL may be cloned, and says why not in words a caller can act on. */
export function checkRepoUrl(url: string, policy: RepoPolicy): RepoCheck {
  if (url.startsWith('-')) return deny('a repository URL must not start with "-"');

  if (url.startsWith('file://') || path.isAbsolute(url)) {
    return policy.allowFileRepos
      ? { ok: true }
      : deny('local repositories are disabled; set CI_FIXER_ALLOW_FILE_REPOS=true to allow them');
  }

  const scp = SCP_STYLE.exec(url);
  if (scp && !url.includes('://')) return checkHost(scp[1]!.toLowerCase(), policy);

  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return deny('not a URL; use https://host/owner/repo, ssh://git@host/owner/repo or git@host:owner/repo');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'ssh:') {
    return deny(`the ${parsed.protocol.replace(':', '')} scheme is not accepted; use https:// or ssh://`);
  }
  if (parsed.password || (parsed.protocol === 'https:' && parsed.username)) {
    return deny('credentials in the URL are not accepted; configure forge credentials on the worker instead');
  }
  return checkHost(parsed.host.toLowerCase(), policy);
}

function checkHost(host: string, policy: RepoPolicy): RepoCheck {
  const bare = host.replace(/:\d+$/, '');
  if (policy.allowedHosts.includes(host) || policy.allowedHosts.includes(bare)) return { ok: true };
  return deny(
    `host ${host} is not allowed; allowed hosts: ${policy.allowedHosts.join(', ')} (CI_FIXER_REPO_HOSTS)`,
  );
}

function deny(reason: string): RepoCheck {
  return { ok: false, reason };
}

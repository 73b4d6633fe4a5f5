import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { checkRepoUrl, type RepoPolicy } from '../src/index.ts';

const policy: RepoPolicy = {
  allowFileRepos: false,
  allowedHosts: ['github.com', 'git.example.com:8443', '127.0.0.1:9419'],
};

/**
 * Parser-differential table: what Node's WHATWG URL parser, git (git 2.39, which hands http(s) URLs to
 * libcurl) and curl each make of a URL, written from their documented behaviour. `node` is `new URL(u).host`
 * (or `error`); `git`/`curl` are the host[:port] they connect to (or `error` when they refuse the URL). Where
 * the three disagree, an allow-list that asks Node is asking the wrong parser; the checker must refuse.
 * The `git` column of the rows marked `probe` is also checked for real below.
 */
interface Row {
  url: string;
  node: string;
  git: string;
  curl: string;
  /** Normalised URL when accepted, or a pattern of the refusal. */
  expect: string | RegExp;
  probe?: boolean;
}

const table: Row[] = [
  // The reported attack: WHATWG treats `\` as `/` in special schemes, libcurl (RFC 3986) as userinfo.
  {
    url: 'https://github.com\\@127.0.0.1:9419/acme/app',
    node: 'github.com',
    git: '127.0.0.1:9419',
    curl: '127.0.0.1:9419',
    expect: /backslash/,
    probe: true,
  },
  {
    url: 'https://127.0.0.1:9419\\@github.com/acme/app',
    node: '127.0.0.1:9419',
    git: 'github.com',
    curl: 'github.com',
    expect: /backslash/,
    probe: true,
  },
  // Any port on an allowed host used to pass.
  {
    url: 'https://github.com:9419/acme/app',
    node: 'github.com:9419',
    git: 'github.com:9419',
    curl: 'github.com:9419',
    expect: /port 9419 on github.com is not allowed; list github.com:9419 in CI_FIXER_REPO_HOSTS/,
  },
  {
    url: 'https://github.com:443/acme/app',
    node: 'github.com',
    git: 'github.com:443',
    curl: 'github.com:443',
    expect: 'https://github.com/acme/app',
  },
  // Node drops a leading-zero or empty port to the default; git and curl differ (curl 7.88 refuses `:`).
  {
    url: 'https://github.com:0443/acme/app',
    node: 'github.com',
    git: 'github.com:443',
    curl: 'github.com:443',
    expect: /not a port number/,
  },
  {
    url: 'https://github.com:/acme/app',
    node: 'github.com',
    git: 'github.com:443',
    curl: 'error',
    expect: /not a port number/,
  },
  // WHATWG strips tab and newline anywhere; git refuses a newline, curl sends it on (header injection).
  {
    url: 'https://github.com\n/acme/app',
    node: 'github.com',
    git: 'error',
    curl: 'error',
    expect: /control character/,
  },
  {
    url: 'https://git\thub.com/acme/app',
    node: 'github.com',
    git: 'error',
    curl: 'error',
    expect: /control character/,
  },
  { url: 'https://github.com /acme/app', node: 'error', git: 'error', curl: 'error', expect: /whitespace/ },
  // IDNA: Node maps the full-width letter to ASCII, libcurl with libidn2 too; an allow-list should not care.
  {
    url: 'https://ｇithub.com/acme/app',
    node: 'github.com',
    git: 'github.com',
    curl: 'github.com',
    expect: /non-ASCII/,
  },
  // Percent escapes in the host: Node decodes (and refuses `@`), curl looks the literal name up.
  {
    url: 'https://github.com%40127.0.0.1/acme/app',
    node: 'error',
    git: 'github.com%40127.0.0.1',
    curl: 'github.com%40127.0.0.1',
    expect: /percent escapes/,
  },
  {
    url: 'https://git%68ub.com/acme/app',
    node: 'github.com',
    git: 'git%68ub.com',
    curl: 'git%68ub.com',
    expect: /percent escapes/,
  },
  // Userinfo: every parser agrees on the host, but credentials in URLs are refused (and the user is
  // attacker-chosen text that ends up in logs and in git's credential helper).
  {
    url: 'https://github.com@127.0.0.1/acme/app',
    node: '127.0.0.1',
    git: '127.0.0.1:443',
    curl: '127.0.0.1:443',
    expect: /credentials in the URL are not accepted/,
    probe: true,
  },
  {
    url: 'https://user:token@github.com/acme/app',
    node: 'github.com',
    git: 'github.com:443',
    curl: 'github.com:443',
    expect: /credentials/,
  },
  {
    url: 'ssh://root@github.com/acme/app',
    node: 'github.com',
    git: 'github.com:22',
    curl: 'github.com:22',
    expect: /credentials/,
  },
  // `?` and `#` end the authority for Node and curl; a parser that looks for the last `@` first reads
  // userinfo `github.com?` and host 127.0.0.1.
  {
    url: 'https://github.com?@127.0.0.1/acme/app',
    node: 'github.com',
    git: 'github.com:443',
    curl: 'github.com:443',
    expect: /credentials/,
  },
  {
    url: 'https://github.com#@127.0.0.1/acme/app',
    node: 'github.com',
    git: 'github.com:443',
    curl: 'github.com:443',
    expect: /credentials/,
  },
  // Numeric host forms: Node rewrites 0x7f.1 to 127.0.0.1, curl leaves the name to the resolver.
  {
    url: 'https://0x7f.0.0.1:9419/acme/app',
    node: '127.0.0.1:9419',
    git: '0x7f.0.0.1:9419',
    curl: '0x7f.0.0.1:9419',
    expect: /host 0x7f.0.0.1:9419 is not allowed/,
  },
  {
    url: 'https://[::1]/acme/app',
    node: '[::1]',
    git: '[::1]:443',
    curl: '[::1]:443',
    expect: /not a host name/,
  },
  // Dot segments: Node and curl remove them, git's dumb/smart paths may not.
  {
    url: 'https://github.com/acme/../../other/app',
    node: 'github.com',
    git: 'github.com:443',
    curl: 'github.com:443',
    expect: /"\." or "\.\." segments/,
  },
  {
    url: 'https://github.com/acme/%2e%2e/app',
    node: 'github.com',
    git: 'github.com:443',
    curl: 'github.com:443',
    expect: /"\." or "\.\." segments/,
  },
  // Node's view of non-special schemes (ssh) keeps case and knows no default port. Option injection
  // through the ssh host: git refuses it itself since 2.14.1; we refuse it first.
  {
    url: 'ssh://-oProxyCommand=id/x',
    node: '-oProxyCommand=id',
    git: 'error',
    curl: 'error',
    expect: /not a host name/,
  },
  { url: 'git@-oProxyCommand=id:x', node: 'error', git: 'error', curl: 'error', expect: /not a host name/ },
  {
    url: 'github.com:-x/app',
    node: '',
    git: 'github.com:22',
    curl: 'error',
    expect: /must not start with "-"/,
  },
  // Accepted forms, normalised: scheme and host lower-case, default port dropped.
  {
    url: 'HTTPS://GitHub.COM/acme/app.git',
    node: 'github.com',
    git: 'github.com:443',
    curl: 'github.com:443',
    expect: 'https://github.com/acme/app.git',
  },
  {
    url: 'ssh://git@github.com:22/acme/app.git',
    node: 'github.com:22',
    git: 'github.com:22',
    curl: 'github.com:22',
    expect: 'ssh://git@github.com/acme/app.git',
  },
  {
    url: 'git@GitHub.com:acme/app.git',
    node: 'error',
    git: 'github.com:22',
    curl: 'error',
    expect: 'git@github.com:acme/app.git',
  },
  {
    url: 'https://git.example.com:8443/team/repo',
    node: 'git.example.com:8443',
    git: 'git.example.com:8443',
    curl: 'git.example.com:8443',
    expect: 'https://git.example.com:8443/team/repo',
  },
  // An entry with a port allows that port only, not the default one.
  {
    url: 'https://git.example.com/team/repo',
    node: 'git.example.com',
    git: 'git.example.com:443',
    curl: 'git.example.com:443',
    expect: /host git.example.com is not allowed/,
  },
  {
    url: 'https://127.0.0.1:9419/acme/app',
    node: '127.0.0.1:9419',
    git: '127.0.0.1:9419',
    curl: '127.0.0.1:9419',
    expect: 'https://127.0.0.1:9419/acme/app',
    probe: true,
  },
];

describe('checkRepoUrl: parser-differential table', () => {
  it.each(table.map((row) => [JSON.stringify(row.url), row] as const))('%s', (_name, row) => {
    // The Node column is checked for real: it is the parser the old allow-list asked.
    let nodeHost: string;
    try {
      nodeHost = new URL(row.url).host;
    } catch {
      nodeHost = 'error';
    }
    expect(nodeHost).toBe(row.node);

    const check = checkRepoUrl(row.url, policy);
    if (typeof row.expect === 'string') {
      expect(check).toEqual({ ok: true, url: row.expect });
      // Idempotent: the normalised URL passes unchanged.
      expect(checkRepoUrl(row.expect, policy)).toEqual({ ok: true, url: row.expect });
    } else {
      expect(check.ok).toBe(false);
      expect(check.ok ? '' : check.reason).toMatch(row.expect);
    }
  });
});

/**
 * git's view, for real: `git ls-remote` inside a network namespace of our own (`unshare -rn`, loopback only),
 * so that whatever host git picks, no packet leaves the machine. GIT_TRACE_CURL records where libcurl tried
 * to connect ("Trying 127.0.0.1:9419...") or which name it failed to resolve.
 */
function gitTarget(url: string): string {
  const run = spawnSync(
    'unshare',
    ['-rn', 'sh', '-c', 'ip link set lo up 2>/dev/null; exec git ls-remote -- "$0"', url],
    {
      env: {
        PATH: process.env.PATH!,
        HOME: '/nonexistent',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_TERMINAL_PROMPT: '0',
        GIT_TRACE_CURL: '1',
      },
      encoding: 'utf8',
      timeout: 20_000,
    },
  );
  const trace = `${run.stdout}${run.stderr}`;
  const trying = /== Info: +Trying (\S+?):(\d+)\.\.\./.exec(trace);
  if (trying) return `${trying[1]}:${trying[2]}`;
  const unresolved = /Could not resolve host: (\S+)/.exec(trace);
  if (unresolved) return unresolved[1]!;
  throw new Error(`git gave no connection trace for ${url}:\n${trace}`);
}

const netns = spawnSync('unshare', ['-rn', 'true']).status === 0;

describe.skipIf(!netns)('git connects where the table says (real git in a private network namespace)', () => {
  it.each(table.filter((row) => row.probe).map((row) => [JSON.stringify(row.url), row] as const))(
    '%s',
    (_name, row) => {
      // An unresolvable name shows without its port in the trace.
      const seen = gitTarget(row.url);
      expect(row.git === seen || row.git.startsWith(`${seen}:`)).toBe(true);
      const check = checkRepoUrl(row.url, policy);
      // What is allowed is what git dials.
      if (check.ok) expect(gitTarget(check.url)).toBe(new URL(check.url).host);
    },
  );
});

describe('checkRepoUrl: local repositories', () => {
  it('passes local paths through unchanged when allowed, and refuses a file URL with a host', () => {
    const local = { ...policy, allowFileRepos: true };
    expect(checkRepoUrl('/srv/repos/my repo', local)).toEqual({ ok: true, url: '/srv/repos/my repo' });
    expect(checkRepoUrl('file:///srv/repos/x', local)).toEqual({ ok: true, url: 'file:///srv/repos/x' });
    expect(checkRepoUrl('file://evil/srv/x', local)).toMatchObject({ ok: false });
    expect(checkRepoUrl('/srv/repos/x\n--upload-pack=id', local)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/control character/),
    });
  });
});

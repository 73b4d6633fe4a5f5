import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { ForgeConfigError, statusOf } from '../errors.ts';
import { DEFAULT_RETRY, retryDelay, sleep, type RetryPolicy } from '../retry.ts';

export interface GitHubSettings {
  apiUrl: string;
  appId?: number;
  privateKey?: string;
  /** A personal access token, used when no App is configured. */
  token?: string;
  retry?: RetryPolicy;
  /** Called for every failed call, retried or not, with its status (0 for a network error). */
  onError?: (status: number) => void;
}

export interface GitHubConnection {
  octokit: Octokit;
  kind: 'app' | 'pat';
  /** A token for git over HTTPS; installation tokens are refreshed by the auth strategy, hence a function. */
  gitToken(): Promise<string>;
}

/** Octokit for one repository: an App installation token when an App is configured, else the PAT. */
export async function connectGitHub(
  settings: GitHubSettings,
  repo: string,
  installationId?: number,
): Promise<GitHubConnection> {
  const base = { baseUrl: settings.apiUrl, userAgent: 'ci-fixer', request: { retries: 0 } };
  if (settings.appId && settings.privateKey) {
    const appAuth = { appId: settings.appId, privateKey: settings.privateKey };
    let installation = installationId;
    if (installation === undefined) {
      // A repository webhook carries no installation; the App finds its installation on the repository.
      const app = withRetry(new Octokit({ ...base, authStrategy: createAppAuth, auth: appAuth }), settings);
      const [owner, name] = repo.split('/') as [string, string];
      installation = (await app.rest.apps.getRepoInstallation({ owner, repo: name })).data.id;
    }
    const octokit = withRetry(
      new Octokit({
        ...base,
        authStrategy: createAppAuth,
        auth: { ...appAuth, installationId: installation },
      }),
      settings,
    );
    return {
      octokit,
      kind: 'app',
      async gitToken() {
        const auth = (await octokit.auth({ type: 'installation' })) as { token: string };
        return auth.token;
      },
    };
  }
  if (settings.token) {
    const token = settings.token;
    return {
      octokit: withRetry(new Octokit({ ...base, auth: token }), settings),
      kind: 'pat',
      gitToken: async () => token,
    };
  }
  throw new ForgeConfigError(
    'no GitHub credentials: set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY (preferred) or GITHUB_TOKEN on the worker',
  );
}

/** Retries every request of this Octokit by the shared policy. */
function withRetry(octokit: Octokit, settings: GitHubSettings): Octokit {
  const policy = settings.retry ?? DEFAULT_RETRY;
  octokit.hook.wrap('request', async (request, options) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await request(options);
      } catch (error) {
        const status = statusOf(error) ?? 0;
        settings.onError?.(status);
        const headers =
          (error as { response?: { headers?: Record<string, string> } }).response?.headers ?? {};
        const delay = retryDelay(status === 0 ? 599 : status, headers, attempt, policy);
        if (delay === undefined) throw error;
        await sleep(delay);
      }
    }
  });
  return octokit;
}

/** The Authorization header git sends to the forge's HTTPS remote for this token. */
export function basicAuthHeader(user: string, token: string): string {
  return `Authorization: Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
}

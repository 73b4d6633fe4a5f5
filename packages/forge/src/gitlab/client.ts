import { ForgeApiError, ForgeConfigError, describeStatus } from '../errors.ts';
import { DEFAULT_RETRY, retryDelay, sleep, type RetryPolicy } from '../retry.ts';

export interface GitLabSettings {
  /** The instance, e.g. https://gitlab.com; the API is under /api/v4. */
  url: string;
  token?: string;
  retry?: RetryPolicy;
  onError?: (status: number) => void;
}

type Query = Record<string, string | number | boolean | string[] | undefined>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
}

/**
 * A small GitLab REST v4 client on fetch: ci-fixer calls a dozen endpoints, and owning the client keeps
 * one retry policy (shared with GitHub) and text traces without a large SDK's own retry layer in between.
 */
export class GitLabClient {
  private readonly api: string;
  private readonly token: string;
  private readonly policy: RetryPolicy;
  private readonly onError: ((status: number) => void) | undefined;

  constructor(settings: GitLabSettings) {
    if (!settings.token) {
      throw new ForgeConfigError('no GitLab credentials: set GITLAB_TOKEN (scope `api`) on the worker');
    }
    this.api = `${settings.url.replace(/\/+$/, '')}/api/v4`;
    this.token = settings.token;
    this.policy = settings.retry ?? DEFAULT_RETRY;
    this.onError = settings.onError;
  }

  /** The token git uses for HTTPS clones and pushes. */
  get gitToken(): string {
    return this.token;
  }

  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(method, path, options);
    return (response.status === 204 ? undefined : await response.json()) as T;
  }

  async text(path: string, query?: Query): Promise<string> {
    return (await this.request('GET', path, query ? { query } : {})).text();
  }

  /** Every page of a list endpoint, following `Link: rel="next"`. */
  async all<T>(path: string, query: Query = {}): Promise<T[]> {
    const items: T[] = [];
    let url: string | undefined = this.url(path, { per_page: 100, ...query });
    while (url) {
      const response = await this.fetchWithRetry('GET', url);
      items.push(...((await response.json()) as T[]));
      url = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
    }
    return items;
  }

  private request(method: string, path: string, { query, body }: RequestOptions): Promise<Response> {
    return this.fetchWithRetry(method, this.url(path, query), body);
  }

  private url(path: string, query: Query = {}): string {
    const url = new URL(`${this.api}${path}`);
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined) continue;
      if (Array.isArray(value)) value.forEach((item) => url.searchParams.append(`${key}[]`, item));
      else url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  private async fetchWithRetry(method: string, url: string, body?: unknown): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      let response: Response | undefined;
      let failure: unknown;
      try {
        response = await fetch(url, {
          method,
          headers: {
            'PRIVATE-TOKEN': this.token,
            'user-agent': 'ci-fixer',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        if (response.ok) return response;
      } catch (error) {
        failure = error;
      }
      const status = response?.status ?? 0;
      this.onError?.(status);
      const headers = response ? Object.fromEntries(response.headers) : {};
      const delay = retryDelay(status === 0 ? 599 : status, headers, attempt, this.policy);
      if (delay === undefined) {
        const detail = response
          ? await errorMessage(response)
          : String((failure as Error)?.message ?? failure);
        const path = new URL(url).pathname.replace(this.api.replace(/^https?:\/\/[^/]+/, ''), '');
        throw new ForgeApiError(
          `GitLab ${method} ${path}: ${describeStatus(status)}${detail ? `: ${detail}` : ''}`,
          status,
          {
            cause: failure,
          },
        );
      }
      await response?.body?.cancel();
      await sleep(delay);
    }
  }
}

async function errorMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { message?: unknown; error?: unknown };
    return JSON.stringify(body.message ?? body.error ?? body).slice(0, 300);
  } catch {
    return text.slice(0, 300);
  }
}

/**
 * STAND-IN for the GitHub REST API and the GitLab REST API v4 (tests cannot reach either). It serves only
 * the endpoints ci-fixer calls, modelled on their documentation: auth (App JWT → installation tokens, PATs,
 * PRIVATE-TOKEN), `Link` pagination, rate-limit headers, 302 job-log redirects, error bodies. Repository
 * content comes from real local bare git repositories, whose paths are reported as clone URLs. It records
 * what it is asked to create so that tests can observe it, and can inject failures (5xx, rate limits).
 */
import { createPublicKey, createVerify, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Fault {
  method: string;
  path: RegExp;
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  times: number;
}

export interface GitHubJobSpec {
  id: number;
  name: string;
  conclusion: 'failure' | 'success' | 'timed_out' | 'skipped';
  steps: { name: string; conclusion: string }[];
  log: string;
}

export interface GitLabJobSpec {
  id: number;
  name: string;
  stage: string;
  status: 'failed' | 'success';
  trace: string;
  allow_failure?: boolean;
}

export interface Recorded {
  id: number;
  body: string;
  [key: string]: unknown;
}

type Handler = (req: Request) => Answer | Promise<Answer>;
interface Request {
  method: string;
  path: string;
  query: URLSearchParams;
  params: string[];
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  url: URL;
}
interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  text?: string;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => ({
  status,
  body,
  headers,
});

export class ForgeStandin {
  url = '';
  readonly requests: { method: string; path: string; status: number }[] = [];
  readonly faults: Fault[] = [];

  readonly github = {
    pat: undefined as string | undefined,
    appId: undefined as number | undefined,
    appPublicKey: undefined as string | undefined,
    installations: new Map<string, number>(),
    issuedTokens: new Set<string>(),
    repos: new Map<string, { bare: string; id: number }>(),
    runs: new Map<number, { repo: string; jobs: GitHubJobSpec[] }>(),
    comments: new Map<string, Recorded[]>(),
    commitComments: [] as Recorded[],
    pulls: [] as { number: number; repo: string; head: string; base: string; title: string; body: string }[],
    checkRuns: [] as Recorded[],
    reviews: [] as Recorded[],
    reruns: [] as number[],
    rateRemaining: 5000,
  };

  readonly gitlab = {
    token: undefined as string | undefined,
    projects: new Map<number, { path: string; bare: string }>(),
    pipelines: new Map<number, { projectId: number; jobs: GitLabJobSpec[] }>(),
    notes: new Map<string, Recorded[]>(),
    mergeRequests: [] as {
      iid: number;
      projectId: number;
      source_branch: string;
      target_branch: string;
      title: string;
      description: string;
    }[],
    statuses: [] as Recorded[],
    retries: [] as number[],
    commitComments: [] as Recorded[],
  };

  /** Where job logs are served, like GitHub's blob storage: another origin, so clients drop credentials. */
  logsUrl = '';
  private server: http.Server | undefined;
  private logServer: http.Server | undefined;
  private nextId = 1000;
  private readonly routes: [string, RegExp, Handler][] = [];

  constructor() {
    this.githubRoutes();
    this.gitlabRoutes();
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.logServer = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.logServer!.listen(0, '127.0.0.1', resolve));
    this.logsUrl = `http://127.0.0.1:${(this.logServer.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const server of [this.server, this.logServer]) {
      server?.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
    }
  }

  /** The next `times` matching calls fail with this answer. */
  failNext(
    method: string,
    path: RegExp,
    status: number,
    options: { headers?: Record<string, string>; body?: unknown; times?: number } = {},
  ) {
    this.faults.push({ method, path, status, times: options.times ?? 1, ...options });
  }

  calls(method: string, path: RegExp) {
    return this.requests.filter((request) => request.method === method && path.test(request.path));
  }

  private route(method: string, pattern: string, handler: Handler) {
    const regex = new RegExp(`^${pattern.replace(/:(\w+)/g, '([^/]+)')}$`);
    this.routes.push([method, regex, handler]);
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url!, this.url);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let answer: Answer;
    const fault = this.faults.find(
      (f) => f.method === req.method && f.path.test(url.pathname) && f.times > 0,
    );
    if (fault) {
      fault.times--;
      answer = json(fault.status, fault.body ?? { message: `stand-in fault ${fault.status}` }, fault.headers);
    } else {
      const match = this.routes
        .map(([method, regex, handler]) => [method, regex.exec(url.pathname), handler] as const)
        .find(([method, found]) => method === req.method && found);
      if (!match) {
        answer = json(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
      } else {
        try {
          answer = await match[2]({
            method: req.method!,
            path: url.pathname,
            query: url.searchParams,
            params: match[1]!.slice(1).map(decodeURIComponent),
            headers: req.headers,
            body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {},
            url,
          });
        } catch (error) {
          answer = json(500, { message: (error as Error).message });
        }
      }
    }
    this.requests.push({ method: req.method!, path: url.pathname, status: answer.status });
    const headers: Record<string, string> = { ...this.rateHeaders(url.pathname), ...answer.headers };
    if (answer.text !== undefined) {
      res
        .writeHead(answer.status, { 'content-type': 'text/plain; charset=utf-8', ...headers })
        .end(answer.text);
    } else if (answer.body === undefined) {
      res.writeHead(answer.status, headers).end();
    } else {
      res
        .writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', ...headers })
        .end(JSON.stringify(answer.body));
    }
  }

  private rateHeaders(path: string): Record<string, string> {
    const reset = String(Math.floor(Date.now() / 1000) + 3600);
    if (path.startsWith('/api/v4/'))
      return { 'ratelimit-limit': '2000', 'ratelimit-remaining': '1999', 'ratelimit-reset': reset };
    const remaining = Math.max(--this.github.rateRemaining, 0);
    return {
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(remaining),
      'x-ratelimit-used': String(5000 - remaining),
      'x-ratelimit-reset': reset,
      'x-ratelimit-resource': 'core',
      'x-github-api-version-selected': '2022-11-28',
    };
  }

  // ---------------------------------------------------------------- GitHub

  addGitHubRepo(fullName: string, bare: string, installationId?: number) {
    this.github.repos.set(fullName.toLowerCase(), { bare, id: this.nextId++ });
    if (installationId !== undefined) this.github.installations.set(fullName.toLowerCase(), installationId);
  }

  addGitHubRun(repo: string, runId: number, jobs: GitHubJobSpec[]) {
    this.github.runs.set(runId, { repo: repo.toLowerCase(), jobs });
  }

  private githubAuth(req: Request, { appOnly = false } = {}): Answer | undefined {
    const match = /^(?:token|bearer) (.+)$/i.exec(String(req.headers.authorization ?? ''));
    const bad = json(401, {
      message: 'Bad credentials',
      documentation_url: 'https://docs.github.com/rest',
      status: '401',
    });
    if (!match)
      return json(401, {
        message: 'Requires authentication',
        documentation_url: 'https://docs.github.com/rest',
      });
    if (appOnly) return this.verifyAppJwt(match[1]!) ? undefined : bad;
    if (match[1] === this.github.pat || this.github.issuedTokens.has(match[1]!)) return undefined;
    return bad;
  }

  private verifyAppJwt(token: string): boolean {
    const [header, payload, signature] = token.split('.');
    if (!header || !payload || !signature || !this.github.appPublicKey) return false;
    const verifier = createVerify('RSA-SHA256').update(`${header}.${payload}`);
    if (!verifier.verify(createPublicKey(this.github.appPublicKey), Buffer.from(signature, 'base64url')))
      return false;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as {
      iss?: unknown;
      exp?: number;
    };
    return String(claims.iss) === String(this.github.appId) && (claims.exp ?? 0) * 1000 > Date.now();
  }

  private repo(req: Request) {
    return this.github.repos.get(`${req.params[0]}/${req.params[1]}`.toLowerCase());
  }

  private paginate<T>(req: Request, items: T[], wrap?: (page: T[]) => unknown): Answer {
    const perPage = Math.min(Number(req.query.get('per_page') ?? 30), 100);
    const page = Number(req.query.get('page') ?? 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const link = (n: number) => {
      const url = new URL(req.url);
      url.searchParams.set('page', String(n));
      return url.toString();
    };
    const links = [
      ...(page < last ? [`<${link(page + 1)}>; rel="next"`, `<${link(last)}>; rel="last"`] : []),
      ...(page > 1 ? [`<${link(1)}>; rel="first"`, `<${link(page - 1)}>; rel="prev"`] : []),
    ];
    const headers: Record<string, string> = links.length ? { link: links.join(', ') } : {};
    if (req.path.startsWith('/api/v4/')) {
      Object.assign(headers, {
        'x-page': String(page),
        'x-per-page': String(perPage),
        'x-total': String(items.length),
        'x-total-pages': String(last),
        'x-next-page': page < last ? String(page + 1) : '',
      });
    }
    return json(200, wrap ? wrap(slice) : slice, headers);
  }

  private gitShow(bare: string, ref: string, path: string): Buffer | undefined {
    try {
      return execFileSync('git', ['-C', bare, 'show', `${ref}:${path}`], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch {
      return undefined;
    }
  }

  private branchExists(bare: string, branch: string): boolean {
    try {
      execFileSync('git', ['-C', bare, 'rev-parse', '--verify', '-q', `refs/heads/${branch}`], {
        stdio: 'ignore',
      });
      return true;
    } catch {
      return false;
    }
  }

  private githubRoutes() {
    const notFound = json(404, {
      message: 'Not Found',
      documentation_url: 'https://docs.github.com/rest',
      status: '404',
    });
    const guarded =
      (handler: Handler, options?: { appOnly?: boolean }): Handler =>
      (req) =>
        this.githubAuth(req, options) ?? handler(req);

    this.route(
      'GET',
      '/repos/:owner/:repo/installation',
      guarded(
        (req) => {
          const id = this.github.installations.get(`${req.params[0]}/${req.params[1]}`.toLowerCase());
          return id === undefined ? notFound : json(200, { id, app_id: this.github.appId });
        },
        { appOnly: true },
      ),
    );

    this.route(
      'POST',
      '/app/installations/:id/access_tokens',
      guarded(
        (req) => {
          if (![...this.github.installations.values()].includes(Number(req.params[0]))) return notFound;
          const token = `ghs_${randomBytes(18).toString('hex')}`;
          this.github.issuedTokens.add(token);
          return json(201, {
            token,
            expires_at: new Date(Date.now() + 3600_000).toISOString(),
            permissions: {
              actions: 'read',
              checks: 'write',
              contents: 'write',
              pull_requests: 'write',
              metadata: 'read',
            },
            repository_selection: 'selected',
          });
        },
        { appOnly: true },
      ),
    );

    this.route(
      'GET',
      '/repos/:owner/:repo',
      guarded((req) => {
        const repo = this.repo(req);
        if (!repo) return notFound;
        const fullName = `${req.params[0]}/${req.params[1]}`;
        return json(200, {
          id: repo.id,
          full_name: fullName,
          private: true,
          clone_url: repo.bare,
          default_branch: 'main',
          html_url: `https://github.example/${fullName}`,
        });
      }),
    );

    this.route(
      'GET',
      '/repos/:owner/:repo/actions/runs/:run/jobs',
      guarded((req) => {
        const run = this.github.runs.get(Number(req.params[2]));
        if (!run || !this.repo(req)) return notFound;
        const jobs = run.jobs.map((job) => ({
          id: job.id,
          run_id: Number(req.params[2]),
          run_attempt: 1,
          name: job.name,
          status: 'completed',
          conclusion: job.conclusion,
          html_url: `https://github.example/${run.repo}/actions/runs/${req.params[2]}/job/${job.id}`,
          steps: [{ name: 'Set up job', status: 'completed', conclusion: 'success', number: 1 }].concat(
            job.steps.map((step, index) => ({ ...step, status: 'completed', number: index + 2 })),
          ),
        }));
        return this.paginate(req, jobs, (page) => ({ total_count: jobs.length, jobs: page }));
      }),
    );

    this.route(
      'GET',
      '/repos/:owner/:repo/actions/jobs/:job/logs',
      guarded((req) => {
        const job = [...this.github.runs.values()]
          .flatMap((run) => run.jobs)
          .find((each) => each.id === Number(req.params[2]));
        if (!job) return notFound;
        // Like GitHub: a redirect to a short-lived URL that needs no Authorization header.
        return {
          status: 302,
          headers: {
            location: `${this.logsUrl}/_standin/job-logs/${job.id}?sig=${randomBytes(6).toString('hex')}`,
          },
        };
      }),
    );

    this.route('GET', '/_standin/job-logs/:job', (req) => {
      if (req.headers.authorization)
        return json(400, { message: 'the log URL is pre-signed; do not send credentials' });
      const job = [...this.github.runs.values()]
        .flatMap((run) => run.jobs)
        .find((each) => each.id === Number(req.params[0]));
      return job ? { status: 200, text: job.log } : notFound;
    });

    this.route(
      'POST',
      '/repos/:owner/:repo/actions/runs/:run/rerun-failed-jobs',
      guarded((req) => {
        this.github.reruns.push(Number(req.params[2]));
        return json(201, {});
      }),
    );

    this.route(
      'GET',
      '/repos/:owner/:repo/contents/(.+)',
      guarded((req) => {
        const repo = this.repo(req);
        const content = repo && this.gitShow(repo.bare, req.query.get('ref') ?? 'HEAD', req.params[2]!);
        if (!content) return notFound;
        return json(200, {
          type: 'file',
          encoding: 'base64',
          size: content.length,
          name: req.params[2]!.split('/').at(-1),
          path: req.params[2],
          content: content.toString('base64'),
        });
      }),
    );

    this.route(
      'GET',
      '/repos/:owner/:repo/issues/:n/comments',
      guarded((req) =>
        this.paginate(
          req,
          this.github.comments.get(`${req.params[0]}/${req.params[1]}#${req.params[2]}`.toLowerCase()) ?? [],
        ),
      ),
    );

    this.route(
      'POST',
      '/repos/:owner/:repo/issues/:n/comments',
      guarded((req) => {
        const key = `${req.params[0]}/${req.params[1]}#${req.params[2]}`.toLowerCase();
        const comment = {
          id: this.nextId++,
          body: String(req.body.body),
          html_url: `https://github.example/${key}#issuecomment-${this.nextId}`,
          user: { login: 'ci-fixer[bot]' },
        };
        this.github.comments.set(key, [...(this.github.comments.get(key) ?? []), comment]);
        return json(201, comment);
      }),
    );

    this.route(
      'PATCH',
      '/repos/:owner/:repo/issues/comments/:id',
      guarded((req) => {
        const comment = [...this.github.comments.values()]
          .flat()
          .find((each) => each.id === Number(req.params[2]));
        if (!comment) return notFound;
        comment.body = String(req.body.body);
        return json(200, comment);
      }),
    );

    this.route(
      'POST',
      '/repos/:owner/:repo/commits/:sha/comments',
      guarded((req) => {
        const comment = {
          id: this.nextId++,
          body: String(req.body.body),
          commit_id: req.params[2],
          html_url: `https://github.example/commit/${req.params[2]}`,
        };
        this.github.commitComments.push(comment);
        return json(201, comment);
      }),
    );

    this.route(
      'GET',
      '/repos/:owner/:repo/pulls',
      guarded((req) => {
        // GitHub's filter: head is `owner:branch`; only open pull requests are kept here.
        const name = `${req.params[0]}/${req.params[1]}`;
        const head = req.query.get('head')?.split(':').at(-1);
        const pulls = this.github.pulls.filter(
          (each) => each.repo === name && (head === undefined || each.head === head),
        );
        return this.paginate(
          req,
          pulls.map((pull) => ({
            ...pull,
            html_url: `https://github.example/${pull.repo}/pull/${pull.number}`,
            head: { ref: pull.head },
            base: { ref: pull.base },
          })),
        );
      }),
    );

    this.route(
      'PATCH',
      '/repos/:owner/:repo/pulls/:n',
      guarded((req) => {
        const pull = this.github.pulls.find(
          (each) =>
            each.repo === `${req.params[0]}/${req.params[1]}` && each.number === Number(req.params[2]),
        );
        if (!pull) return notFound;
        if (req.body.title !== undefined) pull.title = String(req.body.title);
        if (req.body.body !== undefined) pull.body = String(req.body.body);
        return json(200, {
          ...pull,
          html_url: `https://github.example/${pull.repo}/pull/${pull.number}`,
          head: { ref: pull.head },
          base: { ref: pull.base },
        });
      }),
    );

    this.route(
      'POST',
      '/repos/:owner/:repo/pulls',
      guarded((req) => {
        const repo = this.repo(req);
        if (!repo) return notFound;
        const head = String(req.body.head);
        if (
          this.github.pulls.some(
            (each) => each.repo === `${req.params[0]}/${req.params[1]}` && each.head === head,
          )
        ) {
          return json(422, {
            message: 'Validation Failed',
            errors: [
              {
                resource: 'PullRequest',
                code: 'custom',
                message: `A pull request already exists for ${req.params[0]}:${head}.`,
              },
            ],
            documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
          });
        }
        if (!this.branchExists(repo.bare, head) || !this.branchExists(repo.bare, String(req.body.base))) {
          return json(422, {
            message: 'Validation Failed',
            errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }],
            documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
          });
        }
        const pull = {
          number: this.nextId++,
          repo: `${req.params[0]}/${req.params[1]}`,
          head,
          base: String(req.body.base),
          title: String(req.body.title),
          body: String(req.body.body),
        };
        this.github.pulls.push(pull);
        return json(201, {
          ...pull,
          html_url: `https://github.example/${pull.repo}/pull/${pull.number}`,
          head: { ref: head },
          base: { ref: pull.base },
        });
      }),
    );

    this.route(
      'GET',
      '/repos/:owner/:repo/pulls/:n/reviews',
      guarded((req) =>
        this.paginate(
          req,
          this.github.reviews.filter((review) => review.pull === Number(req.params[2])),
        ),
      ),
    );

    this.route(
      'POST',
      '/repos/:owner/:repo/pulls/:n/reviews',
      guarded((req) => {
        const review = {
          id: this.nextId++,
          pull: Number(req.params[2]),
          body: String(req.body.body),
          comments: req.body.comments,
          commit_id: req.body.commit_id,
        };
        this.github.reviews.push(review);
        return json(200, review);
      }),
    );

    this.route(
      'GET',
      '/repos/:owner/:repo/commits/:ref/check-runs',
      guarded((req) => {
        const name = req.query.get('check_name');
        const runs = this.github.checkRuns.filter(
          (run) => run.head_sha === req.params[2] && (name === null || run.name === name),
        );
        return json(200, { total_count: runs.length, check_runs: runs });
      }),
    );

    this.route(
      'PATCH',
      '/repos/:owner/:repo/check-runs/:id',
      guarded((req) => {
        const run = this.github.checkRuns.find((each) => each.id === Number(req.params[2]));
        if (!run) return notFound;
        Object.assign(run, req.body, { body: JSON.stringify(req.body.output ?? JSON.parse(run.body)) });
        run.updates = Number(run.updates ?? 0) + 1;
        return json(200, run);
      }),
    );

    this.route(
      'POST',
      '/repos/:owner/:repo/check-runs',
      guarded((req) => {
        const token = String(req.headers.authorization).split(' ')[1]!;
        if (!this.github.issuedTokens.has(token)) {
          return json(403, {
            message: 'Resource not accessible by personal access token',
            documentation_url: 'https://docs.github.com/rest/checks/runs#create-a-check-run',
            status: '403',
          });
        }
        const run = {
          id: this.nextId++,
          body: JSON.stringify(req.body.output),
          ...req.body,
          html_url: `https://github.example/runs/${this.nextId}`,
        };
        this.github.checkRuns.push(run);
        return json(201, run);
      }),
    );
  }

  // ---------------------------------------------------------------- GitLab

  addGitLabProject(id: number, path: string, bare: string) {
    this.gitlab.projects.set(id, { path, bare });
  }

  addGitLabPipeline(projectId: number, pipelineId: number, jobs: GitLabJobSpec[]) {
    this.gitlab.pipelines.set(pipelineId, { projectId, jobs });
  }

  private gitlabRoutes() {
    const notFound = (what = 'Not found') => json(404, { message: `404 ${what}` });
    const guarded =
      (handler: (req: Request, project: { path: string; bare: string }) => Answer): Handler =>
      (req) => {
        if (!this.gitlab.token || req.headers['private-token'] !== this.gitlab.token)
          return json(401, { message: '401 Unauthorized' });
        const project = this.gitlab.projects.get(Number(req.params[0]));
        return project ? handler(req, project) : notFound('Project Not Found');
      };
    const api = '/api/v4/projects/:id';

    this.route(
      'GET',
      api,
      guarded((req, project) =>
        json(200, {
          id: Number(req.params[0]),
          path_with_namespace: project.path,
          http_url_to_repo: project.bare,
          web_url: `https://gitlab.example/${project.path}`,
          default_branch: 'main',
        }),
      ),
    );

    this.route(
      'GET',
      `${api}/pipelines/:pid/jobs`,
      guarded((req, project) => {
        const pipeline = this.gitlab.pipelines.get(Number(req.params[1]));
        if (!pipeline || pipeline.projectId !== Number(req.params[0])) return notFound();
        const scopes = req.query.getAll('scope[]');
        const jobs = pipeline.jobs
          .filter((job) => scopes.length === 0 || scopes.includes(job.status))
          .map(({ trace: _trace, ...job }) => ({
            ...job,
            web_url: `https://gitlab.example/${project.path}/-/jobs/${job.id}`,
            allow_failure: job.allow_failure ?? false,
          }));
        return this.paginate(req, jobs);
      }),
    );

    this.route(
      'GET',
      `${api}/jobs/:job/trace`,
      guarded((req) => {
        const job = [...this.gitlab.pipelines.values()]
          .flatMap((p) => p.jobs)
          .find((each) => each.id === Number(req.params[1]));
        return job ? { status: 200, text: job.trace } : notFound();
      }),
    );

    this.route(
      'POST',
      `${api}/jobs/:job/retry`,
      guarded((req) => {
        this.gitlab.retries.push(Number(req.params[1]));
        return json(201, { id: this.nextId++, status: 'pending' });
      }),
    );

    this.route(
      'GET',
      `${api}/repository/files/:path/raw`,
      guarded((req, project) => {
        const content = this.gitShow(project.bare, req.query.get('ref') ?? 'HEAD', req.params[1]!);
        return content ? { status: 200, text: content.toString('utf8') } : notFound('File Not Found');
      }),
    );

    this.route(
      'GET',
      `${api}/merge_requests/:iid/notes`,
      guarded((req) => this.paginate(req, this.gitlab.notes.get(`${req.params[0]}!${req.params[1]}`) ?? [])),
    );

    this.route(
      'POST',
      `${api}/merge_requests/:iid/notes`,
      guarded((req) => {
        const key = `${req.params[0]}!${req.params[1]}`;
        const note = { id: this.nextId++, body: String(req.body.body), author: { username: 'ci-fixer' } };
        this.gitlab.notes.set(key, [...(this.gitlab.notes.get(key) ?? []), note]);
        return json(201, note);
      }),
    );

    this.route(
      'PUT',
      `${api}/merge_requests/:iid/notes/:note`,
      guarded((req) => {
        const note = (this.gitlab.notes.get(`${req.params[0]}!${req.params[1]}`) ?? []).find(
          (each) => each.id === Number(req.params[2]),
        );
        if (!note) return notFound();
        note.body = String(req.body.body);
        return json(200, note);
      }),
    );

    this.route(
      'GET',
      `${api}/merge_requests`,
      guarded((req, project) => {
        const source = req.query.get('source_branch');
        const mrs = this.gitlab.mergeRequests.filter(
          (mr) => mr.projectId === Number(req.params[0]) && (source === null || mr.source_branch === source),
        );
        return this.paginate(
          req,
          mrs.map((mr) => ({
            ...mr,
            web_url: `https://gitlab.example/${project.path}/-/merge_requests/${mr.iid}`,
          })),
        );
      }),
    );

    this.route(
      'PUT',
      `${api}/merge_requests/:iid`,
      guarded((req, project) => {
        const mr = this.gitlab.mergeRequests.find(
          (each) => each.projectId === Number(req.params[0]) && each.iid === Number(req.params[1]),
        );
        if (!mr) return json(404, { message: '404 Not found' });
        if (req.body.title !== undefined) mr.title = String(req.body.title);
        if (req.body.description !== undefined) mr.description = String(req.body.description);
        return json(200, {
          ...mr,
          web_url: `https://gitlab.example/${project.path}/-/merge_requests/${mr.iid}`,
        });
      }),
    );

    this.route(
      'POST',
      `${api}/merge_requests`,
      guarded((req, project) => {
        const source = String(req.body.source_branch);
        const target = String(req.body.target_branch);
        if (
          this.gitlab.mergeRequests.some(
            (mr) => mr.projectId === Number(req.params[0]) && mr.source_branch === source,
          )
        ) {
          return json(409, {
            message: [`Another open merge request already exists for this source branch: !${source}`],
          });
        }
        if (!this.branchExists(project.bare, source) || !this.branchExists(project.bare, target)) {
          return json(400, { message: ['Source branch does not exist'] });
        }
        const mr = {
          iid: this.nextId++,
          projectId: Number(req.params[0]),
          source_branch: source,
          target_branch: target,
          title: String(req.body.title),
          description: String(req.body.description),
        };
        this.gitlab.mergeRequests.push(mr);
        return json(201, {
          ...mr,
          web_url: `https://gitlab.example/${project.path}/-/merge_requests/${mr.iid}`,
        });
      }),
    );

    this.route(
      'POST',
      `${api}/statuses/:sha`,
      guarded((req) => {
        const status = {
          id: this.nextId++,
          body: String(req.body.description),
          sha: req.params[1],
          ...req.body,
        };
        this.gitlab.statuses.push(status);
        return json(201, status);
      }),
    );

    this.route(
      'POST',
      `${api}/repository/commits/:sha/comments`,
      guarded((req) => {
        const comment = { id: this.nextId++, body: String(req.body.note), sha: req.params[1] };
        this.gitlab.commitComments.push(comment);
        return json(201, { note: comment.body });
      }),
    );
  }
}

import express, {
  Router,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import type { Redis } from 'ioredis';
import type { Config } from '@ci-fixer/config';
import {
  COMMAND_FROM_SOURCE,
  checkRepoUrl,
  type FixJobData,
  type Forge,
  type RepoPolicy,
} from '@ci-fixer/contract';
import type { Logger } from '@ci-fixer/logger';
import { safeEqual } from '../auth.ts';
import { QueueQuotaExceeded, type FixQueue } from '../fix-queue.ts';
import { quotaProblem } from '../routes/fix-jobs.ts';
import type { ApiMetrics, WebhookOutcome } from '../metrics.ts';
import { HttpProblem } from '../problem.ts';
import { decideGitHubEvent, verifyGitHubSignature } from './github.ts';
import { decideGitLabEvent } from './gitlab.ts';
import { admit, runJobId, type AdmissionSettings } from './admission.ts';
import { guardSubject, ignoreReason, type Candidate, type IntakePolicy } from './policy.ts';

export interface WebhookDependencies {
  config: Config;
  queue: FixQueue;
  redis: Redis;
  logger: Logger;
  metrics: ApiMetrics;
}

type Answer =
  { status: 'pong' | 'ignored' | 'duplicate'; reason?: string } | { status: 'queued'; jobId: string };

/**
 * POST /webhooks/github and /webhooks/gitlab. Each verifies its secret over the raw body, answers at once
 * and leaves the work to a fix job. They read the raw body themselves, so they must be mounted before any
 * JSON parser.
 */
export function webhookRoutes({ config, queue, redis, logger, metrics }: WebhookDependencies): Router {
  const router = Router();
  const raw = express.raw({ type: () => true, limit: config.WEBHOOK_MAX_BODY_BYTES });
  const policy: IntakePolicy = {
    repositories: config.FORGE_REPOSITORIES,
    branches: config.FORGE_BRANCHES,
    allowForks: config.FORGE_ALLOW_FORKS,
  };
  const repoPolicy: RepoPolicy = {
    allowFileRepos: config.CI_FIXER_ALLOW_FILE_REPOS,
    allowedHosts: config.CI_FIXER_REPO_HOSTS,
  };
  const admission: AdmissionSettings = {
    deliveryTtlSeconds: config.WEBHOOK_DEDUPE_TTL_SECONDS,
    runTtlSeconds: config.WEBHOOK_DEDUPE_TTL_SECONDS,
    windowSeconds: config.FORGE_ATTEMPT_WINDOW_SECONDS,
    maxAttempts: config.FORGE_MAX_ATTEMPTS_PER_CHANGE,
  };

  const count = (source: Forge, outcome: WebhookOutcome) => metrics.webhooks.inc({ source, outcome });

  /** Counts what a receiver answered, including the 4xx answers thrown on the way. */
  const receiver =
    (forge: Forge, handle: (req: Request) => Promise<[number, Answer]>): RequestHandler =>
    async (req, res) => {
      try {
        const [status, answer] = await handle(req);
        count(forge, answer.status === 'pong' ? 'ignored' : answer.status);
        res.status(status).json(answer);
      } catch (error) {
        const status = error instanceof HttpProblem ? error.status : 500;
        count(forge, status < 500 ? 'rejected' : 'error');
        throw error;
      }
    };

  const disabledUnless =
    (forge: Forge, configured: boolean, setting: string): RequestHandler =>
    (_req, _res, next) => {
      if (configured) return next();
      count(forge, 'disabled');
      next(
        new HttpProblem(
          503,
          'Receiver Disabled',
          `the ${forge} webhook receiver is disabled because ${setting} is not set; set it to the webhook's secret`,
        ),
      );
    };

  // Oversized and aborted bodies fail in the raw parser; count them before the shared error handler words them.
  const countParseErrors =
    (forge: Forge) => (error: unknown, _req: Request, _res: Response, next: NextFunction) => {
      count(forge, 'rejected');
      next(error);
    };

  router.post(
    '/github',
    disabledUnless('github', Boolean(config.GITHUB_WEBHOOK_SECRET), 'GITHUB_WEBHOOK_SECRET'),
    raw,
    countParseErrors('github'),
    receiver('github', async (req) => {
      const body = rawBody(req);
      const signature = req.get('x-hub-signature-256');
      if (!signature)
        throw unauthorized('the X-Hub-Signature-256 header is missing; set a secret on the webhook');
      if (!verifyGitHubSignature(config.GITHUB_WEBHOOK_SECRET!, body, signature)) {
        throw unauthorized('the X-Hub-Signature-256 signature does not match GITHUB_WEBHOOK_SECRET');
      }
      requireJson(req, 'set the webhook content type to application/json');
      const event = requireHeader(req, 'x-github-event');
      const deliveryId = requireDeliveryId(requireHeader(req, 'x-github-delivery'), 'X-GitHub-Delivery');
      const payload = parseJson(body);
      const decision = decideGitHubEvent(event, payload, deliveryId);
      if (decision.kind === 'ping') return [200, { status: 'pong' }];
      // GitHub keeps a hook that answers 4xx and shows the answer in Recent Deliveries: say which field.
      if (decision.kind === 'invalid') {
        logger.info('webhook payload rejected', { forge: 'github', deliveryId, reason: decision.reason });
        throw new HttpProblem(
          422,
          'Invalid Payload',
          `the workflow_run payload is malformed: ${decision.reason}`,
        );
      }
      return intake('github', deliveryId, decision.kind === 'ignored' ? decision.reason : decision.candidate);
    }),
  );

  router.post(
    '/gitlab',
    disabledUnless('gitlab', Boolean(config.GITLAB_WEBHOOK_TOKEN), 'GITLAB_WEBHOOK_TOKEN'),
    raw,
    countParseErrors('gitlab'),
    receiver('gitlab', async (req) => {
      const token = req.get('x-gitlab-token');
      if (!token)
        throw unauthorized('the X-Gitlab-Token header is missing; set a secret token on the webhook');
      if (!safeEqual(token, config.GITLAB_WEBHOOK_TOKEN!)) {
        throw unauthorized('the X-Gitlab-Token does not match GITLAB_WEBHOOK_TOKEN');
      }
      requireJson(req, 'GitLab sends application/json; check that a proxy does not rewrite it');
      const event = requireHeader(req, 'x-gitlab-event');
      const deliveryHeader = req.get('idempotency-key') ?? req.get('x-gitlab-event-uuid');
      const deliveryId = deliveryHeader ? requireDeliveryId(deliveryHeader, 'Idempotency-Key') : undefined;
      const payload = parseJson(rawBody(req));
      const decision = decideGitLabEvent(event, payload, deliveryId ?? '');
      // GitLab disables a hook permanently on 4xx, so a malformed payload is ignored with 2xx and a reason.
      if (decision.kind === 'invalid') {
        const reason = `the pipeline payload is malformed: ${decision.reason}`;
        logger.info('webhook payload rejected', { forge: 'gitlab', deliveryId, reason });
        return [200, { status: 'ignored', reason }];
      }
      return intake('gitlab', deliveryId, decision.kind === 'ignored' ? decision.reason : decision.candidate);
    }),
  );

  /** Applies the policy, deduplicates the delivery, counts the loop guard and enqueues the fix job. */
  async function intake(
    forge: Forge,
    deliveryId: string | undefined,
    decided: string | Candidate,
  ): Promise<[number, Answer]> {
    const ignored = (reason: string): [number, Answer] => {
      logger.debug('webhook ignored', { forge, deliveryId, reason });
      return [200, { status: 'ignored', reason }];
    };
    // The policy needs no Redis: what is ignored costs no round trip, and a redelivery of it is ignored again.
    if (typeof decided === 'string') return ignored(decided);
    const policyReason = ignoreReason(decided, policy);
    if (policyReason !== undefined) return ignored(policyReason);
    // The clone URL is held to the rules of a REST request's (CI_FIXER_REPO_HOSTS): the worker checks the
    // forge's URL again before cloning, but a URL no worker may clone is never queued in the first place.
    const repoCheck = checkRepoUrl(decided.cloneUrl, repoPolicy);
    if (!repoCheck.ok) return ignored(`the repository's clone URL is not allowed: ${repoCheck.reason}`);
    const candidate: Candidate = { ...decided, cloneUrl: repoCheck.url };
    const jobId = runJobId(candidate);
    const admitted = await unavailableOnError(() =>
      admit(redis, admission, candidate, deliveryId, queue.toKey(jobId)),
    );
    switch (admitted.outcome) {
      case 'duplicate-delivery':
        logger.info('webhook delivery already seen; ignoring the redelivery', { forge, deliveryId });
        return [200, { status: 'duplicate', reason: `delivery ${deliveryId} was already received` }];
      case 'duplicate-run': {
        const { runId, runAttempt } = candidate.source;
        const reason = `run ${runId} attempt ${runAttempt} was already received (job ${jobId})`;
        logger.info('webhook run already seen; ignoring the replay', { forge, deliveryId, jobId });
        return [200, { status: 'duplicate', reason }];
      }
      case 'loop-guard': {
        const reason = `loop guard: ${config.FORGE_MAX_ATTEMPTS_PER_CHANGE} fix attempts for ${guardSubject(candidate.source)} already (FORGE_MAX_ATTEMPTS_PER_CHANGE)`;
        logger.info('webhook ignored', { forge, deliveryId, reason });
        return [200, { status: 'ignored', reason }];
      }
      case 'admitted':
        break;
    }
    try {
      await unavailableOnError(() => enqueue(candidate, jobId));
    } catch (error) {
      // Forget the delivery, the run and the attempt, so that the forge's redelivery succeeds once the queue
      // is back or the repository has a free place.
      await admitted.undo().catch(() => {});
      if (!(error instanceof QueueQuotaExceeded)) throw error;
      logger.info('webhook refused: repository at its queue quota', { forge, deliveryId, jobId });
      // GitLab disables a hook that keeps answering 4xx, so it hears why in a 2xx; GitHub shows the 429.
      if (forge === 'gitlab') return [200, { status: 'ignored', reason: error.message }];
      throw quotaProblem(error);
    }
    logger.info('fix job queued from webhook', {
      forge,
      deliveryId,
      jobId,
      repo: candidate.source.repo,
      runId: candidate.source.runId,
    });
    return [202, { status: 'queued', jobId }];
  }

  async function enqueue({ source, cloneUrl }: Candidate, jobId: string): Promise<void> {
    const data: FixJobData = {
      request: { repo: { url: cloneUrl, sha: source.headSha }, command: COMMAND_FROM_SOURCE },
      submittedAt: new Date().toISOString(),
      source,
    };
    // Same run and attempt → same job id; BullMQ keeps the first, so even a race past admission starts one fix.
    await queue.add('fix', data, { jobId });
  }

  return router;
}

function rawBody(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

function unauthorized(detail: string): HttpProblem {
  return new HttpProblem(401, 'Unauthorized', detail);
}

function requireJson(req: Request, hint: string): void {
  if (!req.is('application/json')) {
    throw new HttpProblem(415, 'Unsupported Media Type', `send the payload as application/json; ${hint}`);
  }
}

function requireHeader(req: Request, name: string): string {
  const value = req.get(name)?.trim();
  if (!value) throw new HttpProblem(400, 'Missing Header', `the ${name} header is required`);
  return value;
}

function requireDeliveryId(value: string, header: string): string {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(value)) {
    throw new HttpProblem(
      400,
      'Invalid Header',
      `${header} must be an id of at most 128 letters, digits and .-_:`,
    );
  }
  return value;
}

function parseJson(body: Buffer): object {
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpProblem(400, 'Malformed JSON', 'the webhook body is not valid JSON');
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new HttpProblem(400, 'Invalid Payload', 'the webhook body must be a JSON object');
  }
  return payload;
}

/** Redis and queue errors become 503; a full quota passes through for the caller to answer. */
async function unavailableOnError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof QueueQuotaExceeded) throw error;
    throw new HttpProblem(
      503,
      'Queue Unavailable',
      `the queue cannot be reached (${(error as Error).message}); the forge can redeliver this webhook later`,
    );
  }
}

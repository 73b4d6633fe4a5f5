import { createHash } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type Options } from 'express-rate-limit';
import type { Redis } from 'ioredis';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { HttpProblem, sendProblem } from './problem.ts';

/** Where the API keeps its own counters; the queue's keys live under QUEUE_PREFIX. */
export const LIMITS_PREFIX = 'ci-fixer:limit:';

// A sha that Redis never has, so that the first call loads the script (NOSCRIPT, then SCRIPT LOAD).
const NOT_LOADED = Promise.resolve('0'.repeat(40));

/**
 * rate-limit-redis, made safe for a connection without an offline queue: its scripts are loaded on first
 * use instead of at start (where a Redis that is not connected yet would leave the store broken until a
 * restart), and a store error becomes the API's 503 instead of a 500.
 */
class ApiRedisStore extends RedisStore {
  override async init(options: Options): Promise<void> {
    this.windowMs = options.windowMs;
    this.incrementScriptSha = NOT_LOADED;
    this.getScriptSha = NOT_LOADED;
  }

  override async increment(key: string) {
    try {
      return await super.increment(key);
    } catch (error) {
      throw redisUnavailable(error);
    }
  }
}

export function redisUnavailable(error: unknown): HttpProblem {
  return new HttpProblem(
    503,
    'Service Unavailable',
    `Redis is unreachable (${(error as Error).message}); nothing was done, try again shortly`,
    {},
    { 'Retry-After': '5' },
  );
}

export interface LimitOptions {
  redis: Redis;
  /** Names the limit in the RateLimit headers and in the 429 answer, e.g. `per-token`. */
  name: string;
  /** What is limited, for the 429 answer: `requests from this address`. */
  what: string;
  /** Which setting raises it. */
  setting: string;
  limit: number;
  windowSeconds: number;
  key: (req: Request) => string;
  /** Counts only requests that failed (status >= 400): sign-in throttles wrong tokens, not people. */
  failuresOnly?: boolean;
}

/**
 * A fixed-window request limit counted in Redis (INCR + PEXPIRE in one script), so it holds across API
 * replicas. Sends `RateLimit` / `RateLimit-Policy` (IETF draft 8) on every counted answer and, past the
 * limit, 429 with `Retry-After` and a problem document that names the limit and when to retry.
 */
export function requestLimit(options: LimitOptions): RequestHandler {
  const { redis, name, limit, windowSeconds } = options;
  return rateLimit({
    windowMs: windowSeconds * 1000,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: name,
    // While Redis is away the routes themselves answer 503; counting would only fail the same way.
    skip: () => redis.status !== 'ready',
    skipSuccessfulRequests: options.failuresOnly ?? false,
    keyGenerator: options.key,
    store: new ApiRedisStore({
      prefix: `${LIMITS_PREFIX}${name}:`,
      sendCommand: (command: string, ...args: string[]) =>
        redis.call(command, ...args) as Promise<RedisReply>,
    }),
    handler: (req, res) => {
      const retryAfter = Number(res.getHeader('Retry-After')) || windowSeconds;
      sendProblem(
        res,
        429,
        'Too Many Requests',
        `rate limit ${name} reached: ${limit} ${options.what} per ${windowSeconds} s (${options.setting}); retry after ${retryAfter} s`,
        { limit: name, max: limit, windowSeconds, retryAfterSeconds: retryAfter },
      );
    },
  });
}

/** The client's address as Express sees it behind the trusted proxies; IPv6 clients count per /56. */
export function addressKey(req: Request): string {
  return ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown');
}

/** A token is never stored, not even in a counter's key: only a digest of it. */
export function tokenKey(token: string): string {
  return createHash('sha256').update(`ci-fixer-limit:${token}`).digest('hex').slice(0, 32);
}

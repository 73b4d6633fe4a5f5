import type { Redis } from 'ioredis';
import { HttpProblem } from './problem.ts';

/**
 * Why the API cannot use Redis, in words an operator can act on: where it looked and what the connection
 * last said (`connect ECONNREFUSED 127.0.0.1:6379`), never the client's internals or the URL's password.
 */
export class RedisReachability {
  private readonly redis: Redis;
  private lastError: string | undefined;

  constructor(redis: Redis) {
    this.redis = redis;
    redis.on('error', (error: Error) => {
      this.lastError = error.message;
    });
    redis.on('ready', () => {
      this.lastError = undefined;
    });
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  /** host:port or the socket path; the URL's credentials stay out. */
  get where(): string {
    const { host, port, path } = this.redis.options;
    return path ?? `${host ?? '127.0.0.1'}:${port ?? 6379}`;
  }

  describe(): string {
    return `cannot reach Redis at ${this.where} (${this.lastError ?? `connection ${this.redis.status}`})`;
  }

  /** The 503 a request gets while Redis is away; nothing it asked for was done. */
  problem(): HttpProblem {
    return new HttpProblem(
      503,
      'Service Unavailable',
      `${this.describe()}; nothing was done, try again shortly`,
      {},
      { 'Retry-After': '5' },
    );
  }
}

import { Redis } from 'ioredis';

const BASE_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A Redis URL for one numbered database, emptied first. Each test file that uses Redis takes its own
 * number, so files running in parallel never see each other's queues.
 */
export async function freshRedisDb(db: number): Promise<string> {
  const url = new URL(BASE_URL);
  url.pathname = `/${db}`;
  const client = new Redis(url.toString(), { maxRetriesPerRequest: 1 });
  try {
    await client.flushdb();
  } finally {
    client.disconnect();
  }
  return url.toString();
}

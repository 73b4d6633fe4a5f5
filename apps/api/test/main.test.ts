/** The API process's own start-up errors: a person reads these, so each says what to do. */
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { startApp } from '../../../test/support/processes.ts';

it('names a taken port and the setting that moves it, and exits 2', async () => {
  const holder = createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  const { port } = holder.address() as AddressInfo;
  try {
    const api = startApp('api', {
      HOST: '127.0.0.1',
      PORT: String(port),
      REDIS_URL: 'redis://127.0.0.1:1',
      CI_FIXER_API_TOKEN: 'a-token-for-this-test-only',
    });
    expect(await once(api.process, 'exit')).toEqual([2, null]);
    expect(api.output()).toContain(
      `ci-fixer api: port ${port} on 127.0.0.1 is taken by another process; stop it or set PORT (0 picks a free port)`,
    );
    expect(api.output()).not.toMatch(/\n\s+at /); // no stack trace
  } finally {
    holder.close();
  }
});

it('refuses production without a token, and says how to make one', async () => {
  const api = startApp('api', {
    NODE_ENV: 'production',
    PORT: '0',
    REDIS_URL: 'redis://127.0.0.1:1',
    CI_FIXER_JOB_SIGNING_KEY: 'a-signing-key-for-this-test-only-0123456789',
  });
  expect(await once(api.process, 'exit')).toEqual([2, null]);
  expect(api.output()).toContain('CI_FIXER_API_TOKEN is required when NODE_ENV=production');
  expect(api.output()).toContain('openssl rand -hex 32');
});

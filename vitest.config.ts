import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['apps/*/test/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Generous: end-to-end tests install real packages and start real processes on a shared 2-core machine.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // Tests start real processes and sandboxes; two cores are shared by all of them.
    maxWorkers: 2,
    // The JSON report is what .ci/run counts; people read the default one.
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});

// The sandbox contract, the factory and what every driver shares. The concrete drivers live behind
// their own entry points (`@ci-fixer/sandbox/local`, `/docker`, `/kubernetes`) so that a caller loads a
// driver's client library only when it picks that driver; the platform itself reaches them through
// `createDriver`.
export * from './types.ts';
export { LABELS, MANAGED_BY, toLabelValue, matchesSelector } from './labels.ts';
export { OutputBuffer } from './output-buffer.ts';
export { reapOrphans, type ReapOptions, type ReapReport } from './reaper.ts';
export { defaultLocalRoot } from './local/root.ts';
export { createDriver, sandboxLimits } from './factory.ts';
export { pickEnv, passthrough } from './env.ts';
export { discoverRegistryEgress, expandEgress } from './egress/registries.ts';

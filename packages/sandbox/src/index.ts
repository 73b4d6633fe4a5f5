export * from './types.ts';
export { LABELS, MANAGED_BY, toLabelValue, matchesSelector } from './labels.ts';
export { OutputBuffer } from './output-buffer.ts';
export { reapOrphans, type ReapOptions, type ReapReport } from './reaper.ts';
export { LocalDriver, type LocalDriverOptions } from './local/driver.ts';
export { defaultLocalRoot } from './local/root.ts';
export { createDriver } from './factory.ts';
export { pickEnv, passthrough } from './env.ts';
export { DockerDriver, DOCKER_WORKDIR, type DockerDriverOptions } from './docker/driver.ts';
export { KubernetesDriver, K8S_DEFAULTS, type KubernetesDriverOptions } from './kubernetes/driver.ts';
export {
  preflightKubernetes,
  REQUIRED_PERMISSIONS,
  describePermission,
  type Permission,
} from './kubernetes/preflight.ts';
export { discoverRegistryEgress, expandEgress } from './egress/registries.ts';

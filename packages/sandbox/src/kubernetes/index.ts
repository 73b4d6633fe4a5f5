export { KubernetesDriver, K8S_DEFAULTS, type KubernetesDriverOptions } from './driver.ts';
export {
  preflightKubernetes,
  REQUIRED_PERMISSIONS,
  describePermission,
  type Permission,
} from './preflight.ts';

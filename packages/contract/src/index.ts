// What API, worker, CLI and fix engine exchange: requests, results, sources, errors. No Redis here.
export * from './request.ts';
export * from './result.ts';
export { checkRepoUrl, type RepoPolicy } from './repo-policy.ts';
export * from './source.ts';
export {
  signJobData,
  signRecord,
  verifyJobData,
  verifyRecord,
  type SignedJobData,
  type SignatureCheck,
} from './signature.ts';
export {
  FixJobError,
  PermanentError,
  PlatformError,
  type ErrorContext,
  type FixJobErrorOptions,
  type PermanentKind,
  type PlatformFault,
} from './errors.ts';

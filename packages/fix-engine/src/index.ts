export { runFix, PlatformError, type FixOptions } from './pipeline.ts';
export { fixInSandbox, gitEgress, type SandboxFixOptions } from './fix-in-sandbox.ts';
export { diagnose, stripAnsi, eslintFixableCount, type DiagnoseOptions } from './diagnose/index.ts';
export { installCommand, detectToolchains, type Toolchain } from './toolchain.ts';
export { RECIPES, type Recipe } from './recipes/index.ts';
export {
  guardPatch,
  patchPolicy,
  protectedPathViolation,
  type PatchGuardConfig,
  type PatchPolicy,
} from './patch-guard.ts';
export { cacheEnvironment, dependencyCacheDir } from './cache-env.ts';
export type { AgentOptions } from './agent/loop.ts';

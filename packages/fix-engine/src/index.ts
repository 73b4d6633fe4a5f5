export { runFix, PlatformError, type FixOptions } from './pipeline.ts';
export { diagnose, stripAnsi, eslintFixableCount } from './diagnose/index.ts';
export { installCommand } from './install.ts';
export { RECIPES, type Recipe } from './recipes/index.ts';

// The one error hierarchy lives with the job contract (@ci-fixer/jobs errors.ts); the engine throws it too.
export { PlatformError } from '@ci-fixer/jobs';

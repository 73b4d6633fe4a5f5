import { z } from 'zod';

/** Field builders for environment variables: every value arrives as a string and is parsed here. */

export const int = (description: string, fallback: number, min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`)
    .default(fallback)
    .describe(description);

export const bool = (description: string, fallback: boolean) =>
  z
    .stringbool({ truthy: ['true', '1'], falsy: ['false', '0'] })
    .default(fallback)
    .describe(description);

/** A comma-separated list, each entry trimmed and checked by `item`; empty entries are dropped. */
export const list = (item: z.ZodType<string, string>, description: string) =>
  z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item))
    .describe(description);

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

/** Comma-separated host names (`host` or `host:port`), lower-cased. */
export const hostList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((host) => host.trim().toLowerCase())
      .filter(Boolean),
  )
  .pipe(
    z.array(
      z
        .string()
        .regex(/^[a-z0-9.-]+(:\d+)?$/, 'must be a comma-separated list of host names, e.g. github.com'),
    ),
  );

/** Comma-separated Kubernetes object names. */
export const nameList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be comma-separated names')));

/** Comma-separated `key=value` pairs, as a record. */
export const keyValueList = z.string().transform((value, context) => {
  const pairs: Record<string, string> = {};
  for (const pair of value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)) {
    const match = /^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)$/.exec(pair);
    if (!match) {
      context.addIssue({ code: 'custom', message: `must be comma-separated key=value pairs, not ${pair}` });
      return z.NEVER;
    }
    pairs[match[1]!] = match[2]!;
  }
  return pairs;
});

const toleration = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.number().int().optional(),
});

/** Kubernetes tolerations as a JSON array. */
export const jsonTolerations = z
  .string()
  .transform((value, context) => {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      context.addIssue({ code: 'custom', message: 'must be a JSON array of tolerations' });
      return z.NEVER;
    }
  })
  .pipe(z.array(toleration, { error: 'must be a JSON array of tolerations' }));

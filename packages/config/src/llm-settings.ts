import { z } from 'zod';
import { int } from './fields.ts';

/** The fix agent: an OpenAI-compatible endpoint and its budget per job. */
export const llmSettings = {
  LLM_BASE_URL: z
    .url({ error: 'must be the URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1' })
    .optional()
    .describe(
      'OpenAI-compatible endpoint for the fix agent; the agent runs only when this, LLM_API_KEY and LLM_MODEL are set.',
    ),
  LLM_API_KEY: z.string().min(1).optional().describe('API key for LLM_BASE_URL; never logged.'),
  LLM_MODEL: z.string().min(1).optional().describe('Model name the fix agent asks for.'),
  LLM_MAX_STEPS: int('Model turns the fix agent may take per job.', 30, 1, 500),
  LLM_MAX_TOKENS: int(
    'Prompt plus completion tokens the fix agent may spend per job.',
    400_000,
    1000,
    100_000_000,
  ),
  LLM_MAX_SECONDS: int('Wall-clock limit for the fix agent per job.', 600, 10, 86_400),
  LLM_MAX_RETRIES: int(
    'Retries of a failed model call (429, 5xx, timeouts) with exponential backoff.',
    3,
    0,
    20,
  ),
};

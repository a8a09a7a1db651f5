// The `evaluate` block of an agent in the gateway config: an OpenAI-compatible evaluator that grades
// sampled live answers. Its own module so config.ts only gains one field.
import { z } from 'zod';
import { MAX_LOSS_REASONS } from '../metrics/types';
import { checkOutboundUrl, OutboundUrlError } from '../outbound';
import { durationSchema } from '../plan/schema';

/** The evaluator's URL passes the same outbound check as every other URL we call. */
const EvaluatorUrl = z
  .string()
  .max(2048)
  .superRefine((raw, ctx) => {
    try {
      checkOutboundUrl(raw);
    } catch (err) {
      if (!(err instanceof OutboundUrlError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  });

export const EvaluateSchema = z
  .object({
    /** Base URL of an OpenAI-compatible API: the gateway calls `<url>/chat/completions`. */
    url: EvaluatorUrl,
    model: z.string().min(1).max(200),
    /** The environment variable holding the API key; the key itself is never in a file. */
    apiKeyEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name')
      .optional(),
    /** What a good answer is, in the evaluator's words (sent as its system prompt). */
    rubric: z.string().min(1).max(8000),
    /** Share of requests evaluated, the same for every version: 0.05 = 5%. */
    sample: z.number().gt(0, 'must be above 0').max(1, 'must be at most 1 (every request)'),
    /** Evaluator calls per minute at most; beyond it sampled requests are skipped, not queued. */
    maxPerMinute: z.number().int().positive().max(100_000).default(60),
    /** Evaluator tokens (prompt + completion) per UTC day; spent, evaluation stops until midnight. */
    maxTokensPerDay: z.number().int().positive().max(1e12).default(1_000_000),
    /** Longest wait for one evaluator answer (the SDK retries twice with backoff within the budget). */
    timeout: durationSchema(300_000).default(30_000),
    /**
     * Shadow stages: how many of the evaluator's reasons for the canary's latest lost pairs to keep
     * (in memory only) and show in `status` and the dashboard. Off (0) by default: a reason may quote
     * the user, and nothing the user wrote is kept unless the team asks (docs/shadow.md).
     */
    keepLossReasons: z
      .number()
      .int('must be a whole number')
      .min(0, 'must be 0 (off) or more')
      .max(MAX_LOSS_REASONS, `must be at most ${MAX_LOSS_REASONS}`)
      .default(0),
    /** Evaluate whole conversations (`x-session-id`) once they have been idle this long. */
    session: z
      .object({ idle: durationSchema(86_400_000, 100) })
      .strict()
      .optional(),
  })
  .strict();
export type EvaluateInput = z.input<typeof EvaluateSchema>;
export type EvaluateConfig = z.output<typeof EvaluateSchema>;

/** Where gen_ai.evaluation.result events land: evaluation name -> metric. */
export const EvaluationTarget = z.enum(['quality_score', 'task_success_rate']);
export type EvaluationTarget = z.infer<typeof EvaluationTarget>;

/** Names mapped when the config maps none (see docs/evaluation.md). */
export const DEFAULT_EVALUATION_NAMES: Record<string, EvaluationTarget> = {
  quality: 'quality_score',
  relevance: 'quality_score',
  helpfulness: 'quality_score',
  correctness: 'quality_score',
  task_success: 'task_success_rate',
  task_completion: 'task_success_rate',
};

/** Top-level `evaluations:` of the gateway config. */
export const EvaluationsSchema = z
  .object({
    names: z
      .record(z.string().min(1).max(200), EvaluationTarget)
      .refine((n) => Object.keys(n).length <= 100, 'at most 100 names'),
  })
  .strict();

import { z } from 'zod';
import { MAX_LOSS_REASON_CHARS, MAX_LOSS_REASONS } from '../metrics/types';

export const METRICS = ['error_rate', 'p99_latency_ms', 'task_success_rate', 'quality_score'] as const;
/**
 * Read from the answers themselves (the gateway's usage reader, or agents' own GenAI series): judged
 * only where a plan names them; the default analysis.metrics stays METRICS.
 */
export const SIGNAL_METRICS = [
  'cost_per_request',
  'output_tokens',
  'input_tokens',
  'ttft_p99_ms',
  'tool_error_rate',
  'truncation_rate',
] as const;
export type SignalMetricName = (typeof SIGNAL_METRICS)[number];
/**
 * Judged on shadow pairs (docs/shadow.md): the canary's win share among the pairs the evaluator
 * decided, in the shadow stage only.
 */
export const SHADOW_METRICS = ['preference'] as const;
export const ALL_METRICS = [...METRICS, ...SIGNAL_METRICS, ...SHADOW_METRICS] as const;
export const MetricNameSchema = z.enum(ALL_METRICS);
export type MetricName = z.infer<typeof MetricNameSchema>;

export { WORSE_WHEN_HIGHER } from './directions';

export const MetricStatusSchema = z.enum(['pass', 'fail', 'nodata', 'inconclusive']);
export type MetricStatus = z.infer<typeof MetricStatusSchema>;

export const MetricResultSchema = z.object({
  metric: MetricNameSchema,
  stable: z.number().nullable(),
  canary: z.number().nullable(),
  /** Samples behind each value (requests, feedback items...). */
  stableSamples: z.number(),
  canarySamples: z.number(),
  status: MetricStatusSchema,
  reason: z.string(),
  /** Statistical judges: the always-valid p-value or equivalent evidence, for display. */
  pValue: z.number().optional(),
  /**
   * Statistical judge: this window's evidence, so that the policy can add it to the same canary's
   * evidence from earlier stages (src/analysis/evidence.ts). Absent in verdicts from before it.
   */
  stats: z
    .object({
      /** ln LR of "worse by k x minEffect" against "no worse", at each EFFECT_GRID multiple. */
      llr: z.array(z.number()).max(16),
      /** The canary's bad events (errors, failed tasks, slow requests) behind the comparison. */
      canaryBad: z.number().optional(),
      /** Per absolute guardrail: ln LR of "beyond the limit", its bad events, point value inside. */
      guards: z
        .array(
          z.object({
            llr: z.number(),
            bad: z.number().optional(),
            within: z.boolean(),
            /** An outcome limit with no request older than the feedback horizon yet: not judged. */
            waiting: z.boolean().optional(),
          }),
        )
        .max(4)
        .optional(),
      /** The comparison cannot pass on these data (coarse buckets, stable broken, no minEffect). */
      blocked: z.boolean().optional(),
      /** The numbers behind the verdict (LR, p, counts), for --verbose and --json. */
      detail: z.string().max(2000),
      /**
       * The unit the counted events were judged in: 'conversation' (at most one bad event per
       * conversation: an exact test, no tempering) or 'request' (no conversation counts from the
       * source: the rollout tempers by DISPERSION). Absent in verdicts from before it.
       */
      unit: z.enum(['conversation', 'request']).optional(),
      /**
       * Measured variance inflation of the canary's per-request counts over the binomial (errors),
       * or the design effect of its mean (quality): what a per-request test would have to allow.
       */
      inflation: z.number().nonnegative().optional(),
      /**
       * Judge v5: ln LR at each EFFECT_GRID multiple on the means of the conversations' own rates
       * (or mean scores), one unit per conversation; what an early stage may also pass on.
       */
      meanLlr: z.array(z.number()).max(16).optional(),
      /** Per absolute guardrail (as `guards`): the stable is beyond the limit too (an incident on both). */
      stableBeyond: z.array(z.boolean()).max(4).optional(),
      /**
       * Judge v6: what an outcome limit read on requests older than the feedback horizon (sum of the
       * values and samples per version), however few, so the rollout adds the stages' reads up.
       */
      settled: z
        .object({
          canary: z.object({ sum: z.number(), n: z.number() }),
          stable: z.object({ sum: z.number(), n: z.number() }),
        })
        .optional(),
    })
    .optional(),
});
export type MetricResult = z.infer<typeof MetricResultSchema>;

export const VerdictKindSchema = z.enum(['pass', 'fail', 'inconclusive']);
export type VerdictKind = z.infer<typeof VerdictKindSchema>;

export const VerdictSchema = z.object({
  verdict: VerdictKindSchema,
  judge: z.enum(['thresholds', 'statistical']),
  reason: z.string(),
  metrics: z.array(MetricResultSchema),
  /** A shadow stage's check (docs/shadow.md): the share mirrored and the pairs the evaluator judged. */
  shadow: z
    .object({
      percent: z.number(),
      mirrored: z.number(),
      pairs: z.object({ judged: z.number(), wins: z.number(), ties: z.number(), losses: z.number() }),
      /**
       * The evaluator's reasons for the canary's latest lost pairs, when the gateway keeps them
       * (`evaluate.keepLossReasons`); absent when it does not.
       */
      lossReasons: z
        .array(z.string().max(MAX_LOSS_REASON_CHARS + 1))
        .max(MAX_LOSS_REASONS)
        .optional(),
    })
    .optional(),
  /** The gateway's online evaluator at this check: its state and what the rollout spent on it. */
  evaluator: z
    .object({
      state: z.string(),
      reason: z.string().optional(),
      calls: z.number(),
      tokens: z.number(),
    })
    .optional(),
  /** Cost per successful task in the window, per version (src/analysis/success-cost.ts); shown, not judged. */
  costPerSuccess: z
    .object({
      stable: z.number().nonnegative().nullable(),
      canary: z.number().nonnegative().nullable(),
      stableTasks: z.number().int().nonnegative(),
      canaryTasks: z.number().int().nonnegative(),
    })
    .optional(),
});
export type Verdict = z.infer<typeof VerdictSchema>;

import { z } from 'zod';
import { METRICS, MetricNameSchema, type MetricName } from '../analysis/types';
import { parseDuration } from './duration';

/** A duration as written ("30s", "5m", "1h30m" or ms), turned into positive milliseconds. */
export const DurationSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    const ms = parseDuration(value);
    if (ms <= 0) {
      ctx.addIssue({ code: 'custom', message: `must be a positive duration, got "${value}"` });
      return z.NEVER;
    }
    return ms;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const VersionName = z
  .string()
  .min(1, 'must not be empty')
  .max(128)
  .regex(/^[A-Za-z0-9._:+-]+$/, 'may only contain letters, digits and . _ : + -');

/** Workflow ids are canary-<agent>, so the name must be safe in ids, URLs and search attributes. */
export const AgentName = z
  .string()
  .min(1, 'must not be empty')
  .max(100)
  .regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, 'use lowercase letters, digits, and . _ - inside');

export const ThresholdSchema = z
  .object({
    /** Canary value must be at most this. */
    maxAbsolute: z.number().nonnegative().optional(),
    /** Canary value must be at least this. */
    minAbsolute: z.number().nonnegative().optional(),
    /** Canary may be at most this many times the stable value (2.0 = twice stable). */
    maxRelativeIncrease: z.number().min(1, 'is a ratio canary/stable and must be >= 1').max(1000).optional(),
    /** Canary may be at most this fraction below stable (0.1 = 10% lower). */
    maxRelativeDecrease: z.number().gt(0).lt(1, 'is a fraction below stable and must be < 1').optional(),
  })
  .strict();
export type Threshold = z.infer<typeof ThresholdSchema>;

export const DEFAULT_THRESHOLDS: Record<MetricName, Threshold> = {
  error_rate: { maxAbsolute: 0.05, maxRelativeIncrease: 2.0 },
  p99_latency_ms: { maxRelativeIncrease: 1.5 },
  task_success_rate: { minAbsolute: 0.9, maxRelativeDecrease: 0.1 },
  quality_score: { maxRelativeDecrease: 0.05 },
};

/**
 * Smallest regression worth failing a canary for, per metric, used by the statistical judge.
 * error_rate: absolute increase in error proportion; task_success_rate: absolute drop in success
 * proportion; p99_latency_ms: relative increase (0.1 = 10% slower); quality_score: absolute drop.
 */
export const DEFAULT_MIN_EFFECT: Record<MetricName, number> = {
  error_rate: 0.005,
  p99_latency_ms: 0.1,
  task_success_rate: 0.02,
  quality_score: 0.02,
};

/**
 * Failed checks in a stage before rollback, per judge, when the plan does not say. Thresholds: each
 * check is a fresh point comparison, so one noisy check must not roll back. Statistical: a fail is
 * already the end of a sequential test whose false-alarm rate allows for every look, so waiting for
 * more failed checks only serves the bad version longer.
 */
export const DEFAULT_FAILURE_LIMIT = { thresholds: 3, statistical: 1 } as const;

const StageInput = z
  .object({
    weight: z.number().gt(0, 'must be above 0').max(100, 'must be at most 100'),
    observe: DurationSchema.optional(),
  })
  .strict();

const StepsInput = z
  .object({
    stepWeight: z.number().gt(0, 'must be above 0').max(100),
    maxWeight: z.number().gt(0).max(100, 'must be at most 100'),
    interval: DurationSchema,
  })
  .strict();

/** Secrets can stay out of the plan (and so out of workflow history): name a variable on the worker. */
const EnvVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const exactlyOne = (a: string, b: string) => (t: Record<string, unknown>) =>
  (t[a] === undefined) !== (t[b] === undefined);

const NotifyInput = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('slack'),
      webhookUrl: z.string().url().optional(),
      webhookUrlEnv: EnvVarName.optional(),
    })
    .strict()
    .refine(exactlyOne('webhookUrl', 'webhookUrlEnv'), {
      message: 'give webhookUrl, or webhookUrlEnv naming a variable on the worker (keeps it out of history)',
      path: ['webhookUrl'],
    }),
  z
    .object({
      type: z.literal('webhook'),
      url: z.string().url(),
      secret: z.string().min(16, 'must be at least 16 characters (it signs the payload)').optional(),
      secretEnv: EnvVarName.optional(),
    })
    .strict()
    .refine(exactlyOne('secret', 'secretEnv'), {
      message: 'give secret, or secretEnv naming a variable on the worker (keeps it out of history)',
      path: ['secret'],
    }),
  z.object({ type: z.literal('log') }).strict(),
]);
export type NotifyTarget = z.infer<typeof NotifyInput>;

const AnalysisInput = z
  .object({
    interval: DurationSchema.default(60_000),
    /** Default: DEFAULT_FAILURE_LIMIT for the judge, filled in by resolvePlan. */
    failureLimit: z.number().int().min(1).max(100).optional(),
    minSamples: z.number().int().min(1).max(10_000_000).default(100),
    /** Inconclusive checks in a row before the rollout pauses and asks a person. */
    inconclusiveLimit: z.number().int().min(1).max(10_000).default(30),
    /** Which metrics are judged; a team without feedback can judge only error_rate and latency. */
    metrics: z
      .array(MetricNameSchema)
      .min(1)
      .default([...METRICS]),
    thresholds: z.partialRecord(MetricNameSchema, ThresholdSchema).default({}),
    judge: z.enum(['thresholds', 'statistical']).default('statistical'),
    /** False rollback rate the statistical judge allows per rollout. */
    alpha: z.number().gt(0).max(0.2, 'above 0.2 would roll back healthy canaries too often').default(0.01),
    minEffect: z.partialRecord(MetricNameSchema, z.number().gt(0)).default({}),
  })
  .strict();

export const PlanInputSchema = z
  .object({
    agent: AgentName,
    stable: VersionName,
    canary: VersionName,
    stages: z.array(StageInput).min(1).optional(),
    steps: StepsInput.optional(),
    analysis: AnalysisInput.default(AnalysisInput.parse({})),
    progressDeadline: DurationSchema.default(6 * 3_600_000),
    /** How long the canary share survives without the workflow renewing it. */
    leaseTtl: DurationSchema.optional(),
    notify: z.array(NotifyInput).default([]),
  })
  .strict();
export type PlanInput = z.input<typeof PlanInputSchema>;

export const StageSchema = z.object({ weight: z.number(), observeMs: z.number() });
export type Stage = z.infer<typeof StageSchema>;

/** The plan as the workflow gets it: defaults filled in, steps expanded, durations in ms. JSON-safe. */
export const ResolvedPlanSchema = z.object({
  agent: z.string(),
  stable: z.string(),
  canary: z.string(),
  stages: z.array(StageSchema).min(1),
  analysis: z.object({
    intervalMs: z.number().positive(),
    failureLimit: z.number().int().positive(),
    minSamples: z.number().int().positive(),
    inconclusiveLimit: z.number().int().positive(),
    metrics: z.array(MetricNameSchema).min(1),
    thresholds: z.record(MetricNameSchema, ThresholdSchema),
    judge: z.enum(['thresholds', 'statistical']),
    alpha: z.number(),
    minEffect: z.record(MetricNameSchema, z.number()),
    /** Stages with an observation window: the statistical judge splits alpha across them. */
    observedStages: z.number().int().positive().optional(),
  }),
  progressDeadlineMs: z.number().positive(),
  leaseTtlMs: z.number().positive(),
  notify: z.array(NotifyInput),
});
export type ResolvedPlan = z.infer<typeof ResolvedPlanSchema>;
export type AnalysisConfig = ResolvedPlan['analysis'];

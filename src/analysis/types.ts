import { z } from 'zod';

export const METRICS = ['error_rate', 'p99_latency_ms', 'task_success_rate', 'quality_score'] as const;
export const MetricNameSchema = z.enum(METRICS);
export type MetricName = z.infer<typeof MetricNameSchema>;

/** Direction in which a metric gets worse: used by every judge and by the CLI to draw arrows. */
export const WORSE_WHEN_HIGHER: Record<MetricName, boolean> = {
  error_rate: true,
  p99_latency_ms: true,
  task_success_rate: false,
  quality_score: false,
};

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
});
export type MetricResult = z.infer<typeof MetricResultSchema>;

export const VerdictKindSchema = z.enum(['pass', 'fail', 'inconclusive']);
export type VerdictKind = z.infer<typeof VerdictKindSchema>;

export const VerdictSchema = z.object({
  verdict: VerdictKindSchema,
  judge: z.enum(['thresholds', 'statistical']),
  reason: z.string(),
  metrics: z.array(MetricResultSchema),
});
export type Verdict = z.infer<typeof VerdictSchema>;

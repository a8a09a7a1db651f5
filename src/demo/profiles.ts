// How a simulated agent version behaves, and the regressions a demo user can pick for the canary.
import { z } from 'zod';

export const AgentProfileSchema = z
  .object({
    version: z.string().min(1, 'must not be empty'),
    /** Share of requests answered with a 5xx. */
    errorRate: z.number().min(0).max(1),
    latencyMs: z
      .object({ median: z.number().positive(), p99: z.number().positive() })
      .refine((l) => l.p99 >= l.median, { message: 'p99 must be at least the median', path: ['p99'] }),
    /** Quality score in [0, 1], as an evaluator would grade an answer. */
    quality: z.object({ mean: z.number().min(0).max(1), sd: z.number().min(0).max(0.5).default(0.05) }),
    /** Share of answered requests that really solved the user's task. */
    taskSuccessRate: z.number().min(0).max(1),
    /** Answer as an SSE token stream instead of one JSON body. */
    stream: z.boolean().default(false),
    seed: z.number().int().optional(),
  })
  .strict();
export type AgentProfile = z.input<typeof AgentProfileSchema>;
export type ResolvedAgentProfile = z.output<typeof AgentProfileSchema>;

/**
 * A version that passes every default threshold of DESIGN.md §4 against itself, with room to spare:
 * task success sits well above the 90% floor, so a healthy canary is not held back by proving it.
 */
export function healthyProfile(version: string): AgentProfile {
  return {
    version,
    errorRate: 0.01,
    latencyMs: { median: 120, p99: 400 },
    quality: { mean: 0.85, sd: 0.05 },
    taskSuccessRate: 0.97,
  };
}

export const REGRESSIONS = ['errors', 'latency', 'quality', 'task-success'] as const;
export type Regression = (typeof REGRESSIONS)[number];

/** Each preset breaks exactly one metric, far beyond its default threshold, so the demo is unambiguous. */
const REGRESSION_CHANGES: Record<Regression, { describe: string; apply: (p: AgentProfile) => AgentProfile }> =
  {
    errors: {
      describe: 'error rate 1% -> 15% (default limit: 5% and 2x stable)',
      apply: (p) => ({ ...p, errorRate: 0.15 }),
    },
    latency: {
      describe: 'p99 latency 400 ms -> 1600 ms (default limit: 1.5x stable)',
      apply: (p) => ({ ...p, latencyMs: { median: 300, p99: 1600 } }),
    },
    quality: {
      describe: 'quality score 0.85 -> 0.65 (default limit: 5% below stable)',
      apply: (p) => ({ ...p, quality: { mean: 0.65, sd: 0.05 } }),
    },
    'task-success': {
      describe: 'task success 97% -> 70% (default limit: 90%, and 10% below stable)',
      apply: (p) => ({ ...p, taskSuccessRate: 0.7 }),
    },
  };

export function describeRegression(kind: Regression): string {
  return REGRESSION_CHANGES[kind].describe;
}

/** A clearly bad canary: the healthy profile with one regression applied. */
export function regressedProfile(kind: Regression, version: string): AgentProfile {
  return REGRESSION_CHANGES[kind].apply(healthyProfile(version));
}

export function isRegression(value: string): value is Regression {
  return (REGRESSIONS as readonly string[]).includes(value);
}

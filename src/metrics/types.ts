import { z } from 'zod';
import type { BuiltinQueries, CustomMetric } from './prometheus-templates';

/**
 * A histogram as [bucketValue, count] pairs, sorted by value, only non-empty buckets, counts not
 * cumulative. bucketValue is the bucket's upper bound (or the exact value for fine buckets). Both
 * versions of one window come from the same bucket scheme, so they can be compared bucket by bucket.
 */
export const HistogramSchema = z.array(z.tuple([z.number(), z.number().nonnegative()]));
export type Histogram = z.infer<typeof HistogramSchema>;

/**
 * One version's numbers for a custom metric (the plan's analysis.custom), by kind: proportion
 * {count: total, matching}; mean {count, sum, histogram of values when the plan gives buckets};
 * quantile {count, histogram}.
 */
export const CustomValuesSchema = z.object({
  count: z.number().int().nonnegative(),
  matching: z.number().int().nonnegative().optional(),
  sum: z.number().optional(),
  histogram: HistogramSchema,
});
export type CustomValues = z.infer<typeof CustomValuesSchema>;

// What the traffic itself says about a version's answers (src/gateway/usage.ts reads them; the GenAI
// Prometheus templates read the same from agents that export OpenTelemetry's conventions): tokens,
// cost, time to first token, tool calls and how answers ended. Each part counts only the answers
// that said it, so an answer of unknown shape adds nothing anywhere ("no usage"), never a zero.
const SignalCount = z.number().int().nonnegative();

/**
 * A per-answer quantity judged by its mean: count, exact sum, and the spread from either the sum of
 * squares (the gateway, exact) or a histogram of values (Prometheus, bucketed).
 */
export const MeanValuesSchema = z.object({
  count: SignalCount,
  sum: z.number().nonnegative(),
  sumSquares: z.number().nonnegative().optional(),
  histogram: HistogramSchema.optional(),
});
export type MeanValues = z.infer<typeof MeanValuesSchema>;

export const SignalMetricsSchema = z.object({
  /** Answers whose shape was read (some usage, a finish reason or a tool call). */
  answers: SignalCount,
  inputTokens: MeanValuesSchema,
  outputTokens: MeanValuesSchema,
  /** Answers with tokens and a price for their version or model, in the price's currency. */
  cost: MeanValuesSchema,
  /** Streamed answers: ms from the request to the first output, [ms, count] pairs. */
  ttftMs: z.object({ count: SignalCount, histogram: HistogramSchema }),
  /** Tool calls in answers, and those the client could not run (arguments not a JSON object). */
  tools: z.object({ calls: SignalCount, errors: SignalCount }),
  /** Answers with a finish reason, and those cut off (out of tokens, or stopped by a filter). */
  finish: z.object({ count: SignalCount, truncated: SignalCount }),
  /**
   * Cost per successful task: the cost of priced answers whose task got positive feedback or
   * evaluation (count = those tasks). Absent from sources that cannot join the two.
   */
  successCost: MeanValuesSchema.optional(),
});
export type SignalMetrics = z.infer<typeof SignalMetricsSchema>;
/**
 * Per-conversation counts of one version over a time range (the gateway's, from x-session-id; a
 * request without one is a conversation of one), so that the judge can take the conversation, the
 * unit the gateway randomizes, as its unit of analysis (docs/judge.md, "The unit"). Every field is a
 * sum of increments counted when the event happens, so windows add up second by second: a
 * conversation counts once in `count` (its first request in the window's version), once in
 * `errored` (at its first error), and the squared sums grow by (c+1)^2 - c^2 as a conversation's
 * own count c grows (exact for conversations inside the window, larger for those that began before).
 */
export const ConversationCountsSchema = z.object({
  /** Conversations whose first request on this version falls in the range. */
  count: z.number().int().nonnegative(),
  /** Conversations whose first error falls in the range (each counts once in its life). */
  errored: z.number().int().nonnegative(),
  /**
   * Requests of conversations without an error so far (signed: a conversation's first error takes
   * its earlier requests back), so a window holds the requests of its clean conversations.
   */
  cleanRequests: z.number().int(),
  /** Sums over conversations of requests^2, errors^2 and errors x requests (variance inflation). */
  requestsSq: z.number().nonnegative(),
  errorsSq: z.number().nonnegative(),
  errorsRequests: z.number().nonnegative(),
  /** Conversations whose first task outcome, and whose first failed task, fall in the range. */
  tasked: z.number().int().nonnegative(),
  failedTask: z.number().int().nonnegative(),
  /** Task outcomes of conversations without a failed task so far (signed, as cleanRequests). */
  cleanOutcomes: z.number().int(),
  /**
   * Sums over conversations of failed tasks^2, failed tasks x outcomes and outcomes^2 (dispersion
   * of task failures); 0 from gateways before them.
   */
  failuresSq: z.number().nonnegative().default(0),
  failuresOutcomes: z.number().nonnegative().default(0),
  outcomesSq: z.number().nonnegative().default(0),
  /**
   * The slowest request of each conversation, as [latency bucket value, signed count]: when a
   * conversation's slowest request so far changes, +1 at the new value and -1 at the old, so the
   * count above any bucket value is the number of conversations that first went above it in the range.
   */
  slowest: z.array(z.tuple([z.number(), z.number().int()])).max(10_000),
  /** Sums over conversations of scores^2, scores x score count, and score count^2 (cluster variance). */
  qualitySq: z.number().nonnegative(),
  qualityCross: z.number().nonnegative(),
  qualityCountSq: z.number().nonnegative(),
  /**
   * Judge v5: sums over conversations of each one's own error rate (errors per request), failure
   * rate (failed per task outcome) and mean score, and of their squares, and the conversations with
   * a score: the mean of the conversations' means, each conversation one unit. Signed increments (a
   * conversation's mean moves both ways as it goes on), so per window only, not Prometheus
   * counters; absent from gateways before them.
   */
  errorRateSum: z.number().optional(),
  errorRateSq: z.number().optional(),
  failureRateSum: z.number().optional(),
  failureRateSq: z.number().optional(),
  scored: z.number().int().optional(),
  qualityMeanSum: z.number().optional(),
  qualityMeanSq: z.number().optional(),
});
export type ConversationCounts = z.infer<typeof ConversationCountsSchema>;

/** What one version did over a time range. Counts, not rates: judges need the sample sizes. */
export const VersionMetricsSchema = z.object({
  version: z.string(),
  requests: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  latencyMs: z.object({
    count: z.number().int().nonnegative(),
    p50: z.number().nullable(),
    p99: z.number().nullable(),
    histogram: HistogramSchema,
  }),
  taskSuccess: z.object({
    successes: z.number().int().nonnegative(),
    total: z.number().int().nonnegative(),
  }),
  quality: z.object({
    count: z.number().int().nonnegative(),
    sum: z.number(),
    histogram: HistogramSchema,
  }),
  /** Custom metrics by name; absent when the plan has none (and in results recorded before them). */
  custom: z.record(z.string(), CustomValuesSchema).optional(),
  /** Read from the answers (tokens, cost, TTFT, tools, finish); absent where the source has none. */
  signals: SignalMetricsSchema.optional(),
  /** Per-conversation counts, from sources that see conversations (the gateway); absent otherwise. */
  conversations: ConversationCountsSchema.optional(),
});
export type VersionMetrics = z.infer<typeof VersionMetricsSchema>;

const Spend = z.object({
  calls: z.number().int().nonnegative(),
  inputTokens: z.number().nonnegative(),
  outputTokens: z.number().nonnegative(),
});

/**
 * The gateway's online evaluator, beside the window it scored: when it is down or out of budget
 * (`unavailable`), quality_score and task_success_rate have no data, whatever the counts say.
 */
export const EvaluatorWindowSchema = z.object({
  state: z.string().max(40),
  reason: z.string().max(1000).optional(),
  unavailable: z.boolean(),
  /** Calls and tokens in the window, and since the rollout's canary was first routed. */
  spend: Spend,
  rollout: Spend.extend({ since: z.number() }).optional(),
});
export type EvaluatorWindow = z.infer<typeof EvaluatorWindowSchema>;

export const MetricsWindowSchema = z.object({
  agent: z.string(),
  /** Epoch ms, inclusive. */
  since: z.number(),
  /** Epoch ms, exclusive. */
  until: z.number(),
  stable: VersionMetricsSchema,
  canary: VersionMetricsSchema,
  /**
   * Epoch ms from which the source holds data, when that is later than `since` (a gateway that
   * restarted with its metrics in memory): the window is only covered from here.
   */
  coveredSince: z.number().optional(),
  /** The agent's online evaluator, when the source has one (the gateway with `evaluate`). */
  evaluator: EvaluatorWindowSchema.optional(),
  /** A shadow stage's data (docs/shadow.md), when the source mirrors: see ShadowWindowSchema. */
  shadow: z.lazy(() => ShadowWindowSchema).optional(),
  /**
   * 'request': late outcomes (task success, quality) count in their request's time (one gateway's
   * metrics API), so a window shifted back by the feedback horizon holds all outcomes of its
   * requests. Absent: on arrival (Prometheus counters, replicas sharing state, older gateways).
   */
  outcomesAt: z.enum(['request', 'arrival']).optional(),
  /** The feedback horizon's read (analysis.feedbackHorizon), when the check made one: see SettledSchema. */
  settled: z.lazy(() => SettledSchema).optional(),
});
export type MetricsWindow = z.infer<typeof MetricsWindowSchema>;

/** Loss reasons a gateway keeps per canary at most, and characters kept of each (docs/shadow.md). */
export const MAX_LOSS_REASONS = 5;
export const MAX_LOSS_REASON_CHARS = 300;

const PairCount = z.number().int().nonnegative();
/**
 * Mirrored copies of a shadow stage: the canary's metrics on them (counted apart from served
 * traffic), and the pairs its evaluator judged in the window (blind, both orders).
 */
export const ShadowWindowSchema = z.object({
  canary: VersionMetricsSchema,
  pairs: z.object({
    wins: PairCount,
    ties: PairCount,
    losses: PairCount,
    mirrored: PairCount,
    skipped: PairCount,
  }),
  /**
   * The evaluator's reasons for the canary's latest lost pairs, when the gateway keeps them
   * (`evaluate.keepLossReasons`; absent when off). Bounded: they come over the network.
   */
  lossReasons: z
    .array(z.string().max(MAX_LOSS_REASON_CHARS + 1))
    .max(MAX_LOSS_REASONS)
    .optional(),
});
export type ShadowWindow = z.infer<typeof ShadowWindowSchema>;

/**
 * Outcomes old enough to judge against an absolute limit: both versions over the window shifted back
 * by the feedback horizon, [since - horizon, until - horizon), from a source that counts an outcome
 * in its request's second (all of a request's outcomes have arrived by then). Shifted rather than
 * cut, so that the stages' reads follow each other without overlap and every request's outcomes
 * count in exactly one stage's evidence. `unavailable`: why the horizon cannot apply (a source that
 * counts outcomes on arrival); the absolute limits then read the whole window and the verdict says so.
 */
export const SettledSchema = z.union([
  z.object({
    horizonMs: z.number().positive(),
    since: z.number(),
    until: z.number(),
    stable: VersionMetricsSchema,
    canary: VersionMetricsSchema,
  }),
  z.object({ horizonMs: z.number().positive(), unavailable: z.string().max(300) }),
]);
export type Settled = z.infer<typeof SettledSchema>;

export interface MetricsQuery {
  agent: string;
  stable: string;
  canary: string;
  since: number;
  until: number;
  /** The plan's custom metrics: sources that read Prometheus fill VersionMetrics.custom for them. */
  custom?: CustomMetric[];
  /** The plan's templates for the built-in metrics (analysis.queries), for sources that read them. */
  queries?: BuiltinQueries;
}

/** Where per-version metrics come from (the gateway's admin API, Prometheus, a test double). */
export interface MetricsSource {
  fetch(query: MetricsQuery): Promise<MetricsWindow>;
  /** Before a rollout starts: problems with the source for this agent (as Router.preflight). */
  preflight?(
    agent: string,
    versions: { stable: string; canary: string },
    /** The plan's metrics read from the answers, when it names any: refused when the traffic lacks them. */
    signals?: string[],
  ): Promise<string[]>;
  /** True for sources that honour MetricsQuery.queries; others refuse a plan that has them. */
  readonly readsPlanQueries?: boolean;
}

export function emptyVersionMetrics(version: string): VersionMetrics {
  return {
    version,
    requests: 0,
    errors: 0,
    latencyMs: { count: 0, p50: null, p99: null, histogram: [] },
    taskSuccess: { successes: 0, total: 0 },
    quality: { count: 0, sum: 0, histogram: [] },
  };
}

/** Raised by metrics sources for errors retrying cannot fix (bad token, unknown agent, bad query). */
export class MetricsConfigError extends Error {
  override name = 'MetricsConfigError';
}

/** Signals of a version whose answers said nothing yet (sources fill them part by part). */
export function emptySignalMetrics(): SignalMetrics {
  const mean = () => ({ count: 0, sum: 0, sumSquares: 0 });
  return {
    answers: 0,
    inputTokens: mean(),
    outputTokens: mean(),
    cost: mean(),
    ttftMs: { count: 0, histogram: [] },
    tools: { calls: 0, errors: 0 },
    finish: { count: 0, truncated: 0 },
  };
}

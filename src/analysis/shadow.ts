// The judge of a shadow stage (docs/shadow.md): no user is served by the canary, so its traffic
// metrics come from the mirrored copies (against the stable's served traffic), and the answers'
// quality from pairs judged side by side (`preference`). quality_score and task_success_rate are not
// judged here: no outcome or grade joins a copy nobody saw; the preference takes their place.
import {
  emptyVersionMetrics,
  MAX_LOSS_REASON_CHARS,
  MAX_LOSS_REASONS,
  type MetricsWindow,
} from '../metrics/types';
import { DEFAULT_MIN_EFFECT, type AnalysisConfig } from '../plan/schema';
import { printable } from '../text/sanitize';
import { judgePreference } from './preference';
import { DEFAULT_OBSERVED_STAGES, PASS_BETA } from './statistical';
import type { MetricName, Verdict } from './types';
import { combineVerdict } from './verdict';

/** Metrics a mirrored copy has: what the gateway measures on the answer itself. */
const ON_COPIES: ReadonlySet<MetricName> = new Set<MetricName>([
  'error_rate',
  'p99_latency_ms',
  'cost_per_request',
  'output_tokens',
  'input_tokens',
  'ttft_p99_ms',
  'tool_error_rate',
  'truncation_rate',
]);

/** The metrics a shadow stage judges: the plan's that copies have, and always `preference`. */
export function shadowMetrics(analysis: AnalysisConfig): MetricName[] {
  return [...analysis.metrics.filter((m) => ON_COPIES.has(m)), 'preference'];
}

/** A weighted stage judges everything but `preference` (there are no pairs once users meet the canary). */
export function weightedAnalysis(analysis: AnalysisConfig): AnalysisConfig {
  if (!analysis.metrics.includes('preference')) return analysis;
  const metrics = analysis.metrics.filter((m) => m !== 'preference');
  return { ...analysis, metrics: metrics.length > 0 ? metrics : ['error_rate'] };
}

/**
 * One check of a shadow stage. `judge` is the plan's judge for the traffic metrics (on the copies);
 * `preference` is tested on the pairs with this check's share of alpha.
 */
export function judgeShadowStage(
  window: MetricsWindow,
  analysis: AnalysisConfig,
  percent: number,
  judge: (w: MetricsWindow, a: AnalysisConfig) => Verdict,
): Verdict {
  const judged = shadowMetrics(analysis);
  // Custom metrics are read from the agent's own series, which copies do not reach.
  const { custom: _custom, ...rest } = analysis;
  const copies: MetricsWindow = {
    ...window,
    canary: window.shadow?.canary ?? emptyVersionMetrics(window.canary.version),
  };
  // Judged with `preference` in the list, so alpha is split over every metric of the stage; the
  // plan's judge has no pairs, so its own `preference` result is replaced below.
  const v = judge(copies, { ...rest, metrics: judged });
  const stages = analysis.observedStages ?? DEFAULT_OBSERVED_STAGES;
  const pairs = window.shadow?.pairs;
  const unavailable = !window.evaluator
    ? `no evaluator judges the pairs (the gateway config's agents.${window.agent}.evaluate)`
    : window.evaluator.unavailable
      ? (window.evaluator.reason ?? `evaluator ${window.evaluator.state}`)
      : !window.shadow
        ? 'the metrics source has no shadow copies (shadow stages need the gateway)'
        : undefined;
  const preference = judgePreference(pairs, {
    minEffect: analysis.minEffect.preference ?? DEFAULT_MIN_EFFECT.preference,
    alpha: analysis.alpha / (judged.length * stages),
    beta: PASS_BETA,
    ...(unavailable ? { unavailable } : {}),
  });
  const metrics = [...v.metrics.filter((m) => m.metric !== 'preference'), preference];
  return {
    ...v,
    ...combineVerdict(analysis.judge, metrics),
    shadow: {
      percent,
      mirrored: pairs?.mirrored ?? 0,
      pairs: {
        judged: (pairs?.wins ?? 0) + (pairs?.ties ?? 0) + (pairs?.losses ?? 0),
        wins: pairs?.wins ?? 0,
        ties: pairs?.ties ?? 0,
        losses: pairs?.losses ?? 0,
      },
      // Only when the gateway keeps them (evaluate.keepLossReasons); one line each, as status prints them.
      ...(window.shadow?.lossReasons
        ? {
            lossReasons: window.shadow.lossReasons
              .slice(-MAX_LOSS_REASONS)
              .map((r) => printable(r, MAX_LOSS_REASON_CHARS)),
          }
        : {}),
    },
  };
}

// The check's second read: both versions over the window shifted back by the plan's feedback
// horizon, for the absolute limits on outcomes (src/analysis/settled.ts says why). Only a source
// that counts a late outcome in its request's time can give it; for the others the window says
// why the horizon cannot apply, and the verdict repeats it.
import { OUTCOME_METRICS } from '../analysis/settled';
import type { AnalysisConfig } from '../plan/schema';
import type { MetricsQuery, MetricsSource, MetricsWindow, Settled } from './types';

/** Why a source that counts outcomes on arrival cannot give "requests older than the horizon". */
export const ARRIVAL_WORDS =
  'the metrics source counts outcomes when they arrive (Prometheus, or gateway replicas sharing state)';

/**
 * The horizon the check must read for, or undefined: the statistical judge, a plan with a horizon
 * (rollouts started before the key have none) and an outcome metric judged with an absolute limit.
 */
export function settledHorizon(analysis: AnalysisConfig): number | undefined {
  const h = analysis.feedbackHorizonMs;
  if (analysis.judge !== 'statistical' || h === undefined || !(h > 0)) return undefined;
  const limited = analysis.metrics.some((m) => {
    const t = analysis.thresholds[m];
    return OUTCOME_METRICS.has(m) && (t?.maxAbsolute !== undefined || t?.minAbsolute !== undefined);
  });
  return limited ? h : undefined;
}

/**
 * Reads [since - horizon, until - horizon): shifted, not cut, so that consecutive stages' reads
 * meet without overlap and the rollout's summed guardrail evidence counts every request once.
 */
export async function readSettled(
  source: MetricsSource,
  query: MetricsQuery,
  window: MetricsWindow,
  horizonMs: number,
): Promise<Settled> {
  if (window.outcomesAt !== 'request') return { horizonMs, unavailable: ARRIVAL_WORDS };
  const since = query.since - horizonMs;
  const until = query.until - horizonMs;
  const w = await source.fetch({
    agent: query.agent,
    stable: query.stable,
    canary: query.canary,
    since,
    until,
  });
  return { horizonMs, since, until, stable: w.stable, canary: w.canary };
}

// The online evaluator's state applied to a verdict: while it is down or out of budget, the metrics
// it feeds have no data (never a pass, never a fail), and the verdict says why and what it cost.
import type { MetricsWindow } from '../metrics/types';
import type { MetricName, Verdict } from './types';
import { combineVerdict } from './verdict';

/** The metrics an evaluator's verdicts feed. */
export const EVALUATED: readonly MetricName[] = ['quality_score', 'task_success_rate'];

export function withEvaluator(verdict: Verdict, window: MetricsWindow): Verdict {
  const ev = window.evaluator;
  if (!ev) return verdict;
  const spend = ev.rollout ?? ev.spend;
  const evaluator = {
    state: ev.state,
    ...(ev.reason ? { reason: ev.reason } : {}),
    calls: spend.calls,
    tokens: spend.inputTokens + spend.outputTokens,
  };
  if (!ev.unavailable) return { ...verdict, evaluator };
  const why = ev.reason ?? `evaluator ${ev.state}`;
  const metrics = verdict.metrics.map((m) => {
    if (!EVALUATED.includes(m.metric)) return m;
    // Without stats no evidence is added for this check (src/analysis/evidence.ts).
    const { stats: _stats, pValue: _p, ...rest } = m;
    return { ...rest, status: 'nodata' as const, reason: `${m.metric}: no data: ${why}` };
  });
  return { ...combineVerdict(verdict.judge, metrics), evaluator };
}

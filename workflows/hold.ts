// A pause on a failed check that holds for a person (docs/gates.md). While it holds, checks judge
// only the data since the pause (the evidence before it already failed, and a sequential judge would
// fail again on it forever), and the canary is rolled back at once only on a clear worsening:
//   1. an absolute guardrail breached: a metric the check fails whose canary value is beyond the
//      plan's maxAbsolute / minAbsolute for it;
//   2. a regression markedly larger than the one that paused it: a paused metric that the check
//      fails on the data since the pause alone (the judge's own test at the plan's alpha), with a
//      regression (canary minus stable, in the metric's bad direction) at least WORSENING_FACTOR
//      times the one measured when it paused;
//   3. a metric failing that did not pause it and whose onFail is rollback (it never asked to wait).
// The progress deadline and analysis.onFail.timeout are enforced by the policy itself.
// Pure: the workflow bundle runs it.
import type { MetricName, MetricResult, Verdict } from '../src/analysis/types';
import { WORSE_WHEN_HIGHER } from '../src/analysis/directions';
import { onFailFor } from '../src/plan/on-fail';
import type { ResolvedPlan } from '../src/plan/schema';

/** How much larger a regression must be than the one that paused the rollout to roll it back. */
export const WORSENING_FACTOR = 2;

/** The regression in a metric's bad direction (canary worse = positive), or null without values. */
export function regressionOf(m: Pick<MetricResult, 'metric' | 'stable' | 'canary'>): number | null {
  if (m.stable === null || m.canary === null) return null;
  const higherWorse = WORSE_WHEN_HIGHER[m.metric as MetricName];
  if (higherWorse === undefined) return Math.abs(m.canary - m.stable);
  return higherWorse ? m.canary - m.stable : m.stable - m.canary;
}

/** The regressions of the metrics a verdict fails, keyed by metric, for the pause's record. */
export function regressions(verdict: Verdict, metrics: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of verdict.metrics) {
    if (!metrics.includes(m.metric)) continue;
    const r = regressionOf(m);
    if (r !== null) out[m.metric] = r;
  }
  return out;
}

function guardrailBreach(plan: ResolvedPlan, m: MetricResult): string | null {
  const t = plan.analysis.thresholds[m.metric];
  if (!t || m.canary === null) return null;
  if (t.maxAbsolute !== undefined && m.canary > t.maxAbsolute) {
    return `${m.metric} ${fmt(m.canary)} is above its absolute limit ${fmt(t.maxAbsolute)}`;
  }
  if (t.minAbsolute !== undefined && m.canary < t.minAbsolute) {
    return `${m.metric} ${fmt(m.canary)} is below its absolute limit ${fmt(t.minAbsolute)}`;
  }
  return null;
}

/**
 * Why a check while the pause holds shows the canary clearly worse (so it must be rolled back now),
 * or null: it stays paused for a person.
 */
export function clearWorsening(
  plan: ResolvedPlan,
  paused: { metrics: string[]; regression?: Record<string, number> },
  verdict: Verdict,
): string | null {
  for (const m of verdict.metrics) {
    if (m.status !== 'fail') continue;
    const breach = guardrailBreach(plan, m);
    if (breach) return `absolute guardrail breached while paused: ${breach}`;
    if (!paused.metrics.includes(m.metric)) {
      if (onFailFor(plan.analysis.onFail, m.metric) === 'rollback') {
        return `${m.metric} failed too while paused (its onFail is rollback): ${m.reason}`;
      }
      continue;
    }
    const before = paused.regression?.[m.metric];
    const now = regressionOf(m);
    if (before === undefined || now === null) continue;
    if (now > before && now >= WORSENING_FACTOR * before) {
      return (
        `${m.metric} got markedly worse while paused: regression ${fmt(now)} since the pause against ` +
        `${fmt(before)} when it paused (at least ${WORSENING_FACTOR}x, and failing on the new data alone)`
      );
    }
  }
  return null;
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}

// The threshold judge: fixed rules on point values, as in Flagger and the original design, but every
// rule kind is enforced and a metric without enough samples is "nodata", never healthy.
import type { MetricsWindow } from '../metrics/types';
import type { AnalysisConfig, Threshold } from '../plan/schema';
import type { MetricName, MetricResult, Verdict } from './types';
import { combineVerdict } from './verdict';
import { fmt, measure } from './values';

export type RuleKind = keyof Threshold;

export interface RuleCheck {
  kind: RuleKind;
  limit: number;
  broken: boolean;
  /** The rule with its numbers, e.g. "0.031 > 2x stable 0.012 (0.024)". */
  text: string;
}

/** Evaluates each rule of a threshold on the canary's value against its limit (or the stable's value). */
export function checkRules(t: Threshold, canary: number, stable: number | null): RuleCheck[] {
  const out: RuleCheck[] = [];
  const c = fmt(canary);
  if (t.maxAbsolute !== undefined) {
    const broken = canary > t.maxAbsolute;
    out.push({
      kind: 'maxAbsolute',
      limit: t.maxAbsolute,
      broken,
      text: `${c} ${broken ? '>' : '<='} max ${fmt(t.maxAbsolute)}`,
    });
  }
  if (t.minAbsolute !== undefined) {
    const broken = canary < t.minAbsolute;
    out.push({
      kind: 'minAbsolute',
      limit: t.minAbsolute,
      broken,
      text: `${c} ${broken ? '<' : '>='} min ${fmt(t.minAbsolute)}`,
    });
  }
  if (stable !== null && t.maxRelativeIncrease !== undefined) {
    const limit = stable * t.maxRelativeIncrease;
    const broken = canary > limit;
    out.push({
      kind: 'maxRelativeIncrease',
      limit,
      broken,
      text: `${c} ${broken ? '>' : '<='} ${fmt(t.maxRelativeIncrease)}x stable ${fmt(stable)} (${fmt(limit)})`,
    });
  }
  if (stable !== null && t.maxRelativeDecrease !== undefined) {
    const limit = stable * (1 - t.maxRelativeDecrease);
    const broken = canary < limit;
    const pct = fmt(t.maxRelativeDecrease * 100);
    out.push({
      kind: 'maxRelativeDecrease',
      limit,
      broken,
      text: `${c} ${broken ? '<' : '>='} stable ${fmt(stable)} - ${pct}% (${fmt(limit)})`,
    });
  }
  return out;
}

function judgeMetric(window: MetricsWindow, analysis: AnalysisConfig, metric: MetricName): MetricResult {
  const { s, c, base, nodata } = measure(window, analysis.minSamples, metric);
  if (nodata) return nodata;
  const rules = checkRules(analysis.thresholds[metric] ?? {}, c.value, s.value);
  if (rules.length === 0) return { ...base, status: 'pass', reason: `${metric}: no threshold rule` };
  const broken = rules.filter((r) => r.broken);
  const shown = broken.length > 0 ? broken : rules;
  return {
    ...base,
    status: broken.length > 0 ? 'fail' : 'pass',
    reason: `${metric}: ${shown.map((r) => r.text).join('; ')}`,
  };
}

/** Pass only when every judged metric passes, fail when any fails, inconclusive otherwise. */
export function judgeThresholds(window: MetricsWindow, analysis: AnalysisConfig): Verdict {
  const metrics = analysis.metrics.map((m) => judgeMetric(window, analysis, m));
  return combineVerdict('thresholds', metrics);
}

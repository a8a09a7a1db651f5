// The statistical judge: per metric, a sequential test of the canary against the stable (see
// sequential.ts for why SPRTs), plus the plan's absolute thresholds as guardrails that are tested
// too, instead of compared point for point, so that a single error can never flip a check.
//
// Alpha (the false rollback rate per rollout) is split by Bonferroni over the judged metrics and
// the plan's observed stages: each (metric, stage) test gets alpha / (metrics * stages), and within a
// metric that has absolute guardrails 90% goes to the comparison and 10% to the guardrails (a
// guardrail breach is usually large, so the higher bar costs little). Each test's LR is checked at
// every look against its share; by Ville's inequality the chance that any test ever crosses during a
// healthy rollout is at most alpha, whatever the number of looks. failureLimit > 1 only lowers it.
//
// When the judge says pass: a metric passes when its SPRT statistic is at or below ln(beta)
// (beta = PASS_BETA): the data are at least 1/beta times likelier if the canary is no worse than
// stable than if it is worse by the minimum effect; and its point value keeps inside its absolute
// guardrails. The verdict passes when every judged metric passes. With thin data the statistic
// stays between the bounds: inconclusive, never fail; the stage is extended rather than passed.
//
// Relative thresholds (maxRelativeIncrease/Decrease) are the thresholds judge's blunt version of
// what the comparison test does; here the comparison is governed by analysis.minEffect instead.
import type { MetricsWindow, VersionMetrics } from '../metrics/types';
import type { AnalysisConfig, Threshold } from '../plan/schema';
import {
  meanComparison,
  meanGuard,
  proportionComparison,
  proportionGuard,
  quantileComparison,
  quantileGuard,
  type AbsoluteKind,
  type Comparison,
} from './families';
import { signalComparison, signalGuard } from './signals';
import type { MetricName, MetricResult, Verdict } from './types';
import { combineVerdict } from './verdict';
import { fmt, histogramMoments, measure } from './values';
import { againstStable, effectText, valueText } from './words';

/** Miss rate behind a pass: a canary worse by the minimum effect passes a check at most this often. */
export const PASS_BETA = 0.05;
/** Stages the alpha is split over when the plan does not say (the default plan observes three). */
export const DEFAULT_OBSERVED_STAGES = 3;
export const COMPARISON_SHARE = 0.9;
/**
 * Effects the fail side tests, in multiples of the minimum effect, with their mixture weights. A
 * mixture of likelihood ratios is still a martingale under H0, so the Ville bound holds. It costs
 * ln(1/weight) in the threshold at any one effect, but lets large regressions (1% -> 5% errors) fail
 * as fast as their size allows instead of at the pace of the minimum effect. Small effects get most
 * of the weight: they need the most samples, while a large effect's LR grows so fast that a small
 * weight delays it by only a few requests.
 */
export const EFFECT_GRID: readonly { multiple: number; weight: number }[] = [
  { multiple: 1, weight: 0.4 },
  { multiple: 2, weight: 0.4 },
  { multiple: 4, weight: 0.1 },
  { multiple: 8, weight: 0.1 },
];
/**
 * Fewest canary bad events (errors, failed tasks, slow requests) behind a fail, comparison or
 * guardrail. The tests assume independent requests; errors come in bursts (one broken conversation
 * retried), so one or two events never fail a check, however clean the stable is or however strict
 * a limit. Real regressions reach this within their first few checks.
 */
export const MIN_BAD_EVENTS = 3;
/** Exceedance rate of the p99 (1%) and the rate a guardrail treats as clearly above it. */
const P99_TAIL = 0.01;

export interface AlphaSplit {
  /** Per (metric, stage) share of alpha. */
  perMetric: number;
  comparison: number;
  /** Per absolute guardrail rule. */
  guardrail: number;
}

export function alphaSplit(analysis: AnalysisConfig, metric: MetricName): AlphaSplit {
  const stages = analysis.observedStages ?? DEFAULT_OBSERVED_STAGES;
  const perMetric = analysis.alpha / (analysis.metrics.length * stages);
  const guards = absoluteRules(analysis.thresholds[metric]).length;
  if (guards === 0) return { perMetric, comparison: perMetric, guardrail: 0 };
  return {
    perMetric,
    comparison: perMetric * COMPARISON_SHARE,
    guardrail: (perMetric * (1 - COMPARISON_SHARE)) / guards,
  };
}

function absoluteRules(t: Threshold | undefined): { kind: AbsoluteKind; limit: number }[] {
  const out: { kind: AbsoluteKind; limit: number }[] = [];
  if (t?.maxAbsolute !== undefined) out.push({ kind: 'maxAbsolute', limit: t.maxAbsolute });
  if (t?.minAbsolute !== undefined) out.push({ kind: 'minAbsolute', limit: t.minAbsolute });
  return out;
}

function badEvents(m: VersionMetrics, metric: 'error_rate' | 'task_success_rate'): [number, number] {
  return metric === 'error_rate'
    ? [m.errors, m.requests]
    : [m.taskSuccess.total - m.taskSuccess.successes, m.taskSuccess.total];
}

function compare(window: MetricsWindow, metric: MetricName, delta: number): Comparison {
  const { stable, canary } = window;
  switch (metric) {
    case 'error_rate':
    case 'task_success_rate': {
      const what = metric === 'error_rate' ? 'errors' : 'failed tasks';
      return proportionComparison(badEvents(canary, metric), badEvents(stable, metric), delta, what);
    }
    case 'p99_latency_ms':
      return quantileComparison(canary.latencyMs, stable.latencyMs, P99_TAIL, delta, {
        label: 'p99',
        noun: 'latency',
        unit: 'ms',
      });
    case 'quality_score':
      return meanComparison(moments(canary), moments(stable), delta, 'lower');
    default:
      return signalComparison(window, metric, delta);
  }
}

/** ln of the weighted mixture of the likelihood ratios at each effect in EFFECT_GRID. */
export function mixtureLlr(llrAt: (k: number) => number): number {
  const l = EFFECT_GRID.map((e) => Math.log(e.weight) + llrAt(e.multiple));
  const top = Math.max(...l);
  if (!Number.isFinite(top)) return top;
  return top + Math.log(l.reduce((sum, x) => sum + Math.exp(x - top), 0));
}

function moments(m: VersionMetrics): { n: number; mean: number; variance: number } {
  const h = histogramMoments(m.quality.histogram);
  // The sum is exact; the histogram gives the spread.
  const mean = m.quality.count > 0 ? m.quality.sum / m.quality.count : h.mean;
  return { n: m.quality.count, mean, variance: h.n > 1 ? h.variance : 0 };
}

/**
 * One-sided SPRT that the canary breaks an absolute limit: ln LR of "clearly beyond" against "at the
 * limit", and the canary's bad events on the wrong side of it (undefined for the quality mean).
 */
function guardrailLlr(
  canary: VersionMetrics,
  metric: MetricName,
  kind: AbsoluteKind,
  limit: number,
  delta: number,
): { llr: number; bad?: number } {
  switch (metric) {
    case 'error_rate':
      return proportionGuard(canary.errors, canary.requests, kind, limit, delta);
    case 'task_success_rate':
      return proportionGuard(canary.taskSuccess.successes, canary.taskSuccess.total, kind, limit, delta);
    case 'p99_latency_ms':
      // The p99 is above the limit when more than 1% of requests are; H1: 2% (or 0.5% for a floor).
      return quantileGuard(canary.latencyMs.histogram, canary.latencyMs.count, P99_TAIL, kind, limit);
    case 'quality_score':
      return meanGuard(moments(canary), kind, limit, delta);
    default:
      return signalGuard(canary, metric, kind, limit, delta);
  }
}

/** A fail needs MIN_BAD_EVENTS behind it wherever bad events are counted. */
const enoughBad = (bad: number | undefined): boolean => bad === undefined || bad >= MIN_BAD_EVENTS;

/** JSON-safe ln LR: history payloads carry no Infinity. */
export const clampLlr = (x: number): number => Math.max(-1e6, Math.min(1e6, Number.isNaN(x) ? 0 : x));

/**
 * Above this error rate on both versions the comparison means nothing: the upstream (a model API,
 * a tool) is down for both, and rolling back to an equally broken stable helps nobody.
 */
export const BROKEN_STABLE_ERROR_RATE = 0.5;

function judgeMetric(window: MetricsWindow, analysis: AnalysisConfig, metric: MetricName): MetricResult {
  const { s, c, base, nodata } = measure(window, analysis.minSamples, metric);
  if (nodata) return nodata;
  const delta = analysis.minEffect[metric];
  if (!(delta > 0)) {
    return { ...base, status: 'inconclusive', reason: `${metric}: no minimum effect configured` };
  }
  const split = alphaSplit(analysis, metric);
  const cmp = compare(window, metric, delta);
  const failLlr = mixtureLlr(cmp.llrAt);
  const passLlr = cmp.llrAt(1);
  // Shown on the rollout's scale: fail when pValue <= analysis.alpha.
  const pValue = Math.min(1, Math.exp(-failLlr) * (analysis.alpha / split.comparison));

  const guards = absoluteRules(analysis.thresholds[metric]).map((g) => {
    const { llr, bad } = guardrailLlr(window.canary, metric, g.kind, g.limit, delta);
    const sign = g.kind === 'maxAbsolute' ? '<=' : '>=';
    return {
      ...g,
      llr,
      bad,
      failed: enoughBad(bad) && llr >= Math.log(1 / split.guardrail),
      within: g.kind === 'maxAbsolute' ? c.value <= g.limit : c.value >= g.limit,
      text: `guardrail ${sign} ${fmt(g.limit)} (LR ${fmt(Math.exp(llr))})`,
      words: `${g.kind === 'maxAbsolute' ? 'max' : 'min'} ${valueText(metric, g.limit)}`,
    };
  });
  const failedGuard = guards.find((g) => g.failed);
  const values = againstStable(metric, c.value, s.value);
  const evidence = `LR ${fmt(Math.exp(failLlr))}, p=${fmt(pValue)}; ${cmp.detail}`;
  const broken =
    metric === 'error_rate' && s.value >= BROKEN_STABLE_ERROR_RATE && c.value >= BROKEN_STABLE_ERROR_RATE;
  const stats = {
    llr: EFFECT_GRID.map((e) => clampLlr(cmp.llrAt(e.multiple))),
    ...(cmp.canaryBad !== undefined ? { canaryBad: cmp.canaryBad } : {}),
    ...(guards.length > 0
      ? {
          guards: guards.map((g) => ({
            llr: clampLlr(g.llr),
            ...(g.bad !== undefined ? { bad: g.bad } : {}),
            within: g.within,
          })),
        }
      : {}),
    ...(cmp.blocked || broken ? { blocked: true } : {}),
    detail: `${metric}: ${evidence}${failedGuard ? `; breaks ${failedGuard.text}` : ''}`,
  };
  const out = { ...base, pValue, stats };

  if (broken) {
    // Not the canary's fault and not the stable's cure: hold the split, say where to look.
    return {
      ...out,
      status: 'inconclusive',
      reason: `${metric}: stable is failing too (${valueText(metric, s.value)} errors on stable, ${valueText(metric, c.value)} on the canary): check the upstreams; not judged`,
    };
  }
  if (enoughBad(cmp.canaryBad) && failLlr >= Math.log(1 / split.comparison)) {
    return { ...out, status: 'fail', reason: `${metric}: worse: ${values}` };
  }
  if (failedGuard) {
    return {
      ...out,
      status: 'fail',
      reason: `${metric}: beyond its limit (${failedGuard.words}): ${values}`,
    };
  }
  if (cmp.blocked) {
    return { ...out, status: 'inconclusive', reason: `${metric}: ${cmp.blocked}` };
  }
  if (passLlr <= Math.log(PASS_BETA)) {
    const outside = guards.find((g) => !g.within);
    if (outside) {
      return {
        ...out,
        status: 'inconclusive',
        reason: `${metric}: outside its limit (${outside.words}), not yet proven: ${values}`,
      };
    }
    return {
      ...out,
      status: 'pass',
      reason: `${metric}: not worse by ${effectText(metric, delta)}: ${values}`,
    };
  }
  return { ...out, status: 'inconclusive', reason: `${metric}: not yet: ${values}` };
}

export function judgeStatistical(window: MetricsWindow, analysis: AnalysisConfig): Verdict {
  const metrics = analysis.metrics.map((m) => judgeMetric(window, analysis, m));
  return combineVerdict('statistical', metrics);
}

// The plan's custom metrics (analysis.custom: cost or tokens per task, a share of over-budget tasks,
// a quantile of tool calls) judged with the same statistics as the built-ins: the thresholds judge
// checks the same rule kinds on point values; the statistical judge runs the same sequential tests
// (a proportion's bad events, a shift of means, the share above a pooled quantile) with absolute
// rules as tested guardrails, the same effect mixture, pass bound and minimum of bad events.
//
// Alpha stays the plan's false rollback rate per rollout: the Bonferroni family is every judged
// metric, built-in and custom, so the built-in judge is called with its share of alpha and its
// p-values are put back on the rollout's scale (fail when p <= analysis.alpha).
import type { CustomMetric } from '../metrics/prometheus-templates';
import type { CustomValues, MetricsWindow } from '../metrics/types';
import type { AnalysisConfig } from '../plan/schema';
import { bernoulliLlr, meanShiftLlr, proportionTest, shareTest } from './sequential';
import { DEFAULT_OBSERVED_STAGES, EFFECT_GRID, MIN_BAD_EVENTS, PASS_BETA } from './statistical';
import { checkRules } from './thresholds';
import type { MetricResult, Verdict } from './types';
import { combineVerdict } from './verdict';
import { countAbove, fmt, histogramMoments, histogramQuantile, mergeHistograms, survivalAt } from './values';

const COMPARISON_SHARE = 0.9;

/** A custom metric's result: MetricResult with the plan's own name in `metric`. */
export type CustomResult = Omit<MetricResult, 'metric'> & { metric: string };

type Judge = (window: MetricsWindow, analysis: AnalysisConfig) => Verdict;

/** The plan's judge over the built-in metrics and the custom ones, as one verdict. */
export function judgeWithCustom(base: Judge, window: MetricsWindow, analysis: AnalysisConfig): Verdict {
  const custom = analysis.custom ?? [];
  if (custom.length === 0) return base(window, analysis);
  const builtins = analysis.metrics.length;
  const family = builtins + custom.length;
  const verdict = base(window, { ...analysis, alpha: (analysis.alpha * builtins) / family });
  const rescaled = verdict.metrics.map((m) =>
    m.pValue === undefined ? m : { ...m, pValue: Math.min(1, (m.pValue * family) / builtins) },
  );
  const results = custom.map((m) => judgeCustom(window, analysis, m, family));
  // The verdict's metric names are the built-in enum; custom names travel as strings beside them.
  return combineVerdict(verdict.judge, [...rescaled, ...(results as unknown as MetricResult[])]);
}

interface Point {
  value: number | null;
  samples: number;
}

function pointOf(m: CustomMetric, v: CustomValues | undefined): Point {
  if (!v || v.count === 0) return { value: null, samples: v?.count ?? 0 };
  switch (m.kind) {
    case 'proportion':
      return { value: (v.matching ?? 0) / v.count, samples: v.count };
    case 'mean':
      return { value: (v.sum ?? 0) / v.count, samples: v.count };
    case 'quantile':
      return { value: histogramQuantile(v.histogram, m.quantile), samples: v.count };
  }
}

const empty: CustomValues = { count: 0, histogram: [] };

export function judgeCustom(
  window: MetricsWindow,
  analysis: AnalysisConfig,
  m: CustomMetric,
  family = analysis.metrics.length + (analysis.custom?.length ?? 1),
): CustomResult {
  const sv = window.stable.custom?.[m.name] ?? empty;
  const cv = window.canary.custom?.[m.name] ?? empty;
  const s = pointOf(m, sv);
  const c = pointOf(m, cv);
  const base = {
    metric: m.name,
    stable: s.value,
    canary: c.value,
    stableSamples: s.samples,
    canarySamples: c.samples,
  };
  const min = analysis.minSamples;
  if (c.samples < min || s.samples < min || c.value === null || s.value === null) {
    return {
      ...base,
      status: 'nodata',
      reason: `${m.name}: no data (canary ${c.samples}, stable ${s.samples} samples; need ${min} each)`,
    };
  }
  const cval = c.value;
  const sval = s.value;
  const t = m.thresholds ?? {};
  const unit = m.unit ? ` ${m.unit}` : '';
  const values = `canary ${fmt(cval)}${unit} vs stable ${fmt(sval)}${unit}`;

  if (analysis.judge === 'thresholds') {
    const rules = checkRules(t, cval, sval);
    if (rules.length === 0) return { ...base, status: 'pass', reason: `${m.name}: no threshold rule` };
    const broken = rules.filter((r) => r.broken);
    return {
      ...base,
      status: broken.length > 0 ? 'fail' : 'pass',
      reason: `${m.name}: ${(broken.length > 0 ? broken : rules).map((r) => r.text).join('; ')}`,
    };
  }

  const delta = m.minEffect;
  if (delta === undefined || !(delta > 0)) {
    return { ...base, status: 'inconclusive', reason: `${m.name}: no minimum effect configured` };
  }
  const stages = analysis.observedStages ?? DEFAULT_OBSERVED_STAGES;
  const perMetric = analysis.alpha / (family * stages);
  const rules = (['maxAbsolute', 'minAbsolute'] as const)
    .filter((k) => t[k] !== undefined)
    .map((k) => ({ kind: k, limit: t[k]! }));
  const comparison = rules.length > 0 ? perMetric * COMPARISON_SHARE : perMetric;
  const guardAlpha = rules.length > 0 ? (perMetric * (1 - COMPARISON_SHARE)) / rules.length : 0;

  const cmp = compare(m, sv, cv, delta);
  const failLlr = mixtureLlr(cmp.llrAt);
  const passLlr = cmp.llrAt(1);
  const pValue = Math.min(1, Math.exp(-failLlr) * (analysis.alpha / comparison));
  const evidence = `LR ${fmt(Math.exp(failLlr))}, p=${fmt(pValue)}; ${cmp.detail}`;
  const enoughBad = (bad: number | undefined) => bad === undefined || bad >= MIN_BAD_EVENTS;

  const guards = rules.map((g) => {
    const { llr, bad } = guardrailLlr(m, cv, g.kind, g.limit, delta);
    return {
      failed: enoughBad(bad) && llr >= Math.log(1 / guardAlpha),
      within: g.kind === 'maxAbsolute' ? cval <= g.limit : cval >= g.limit,
      text: `guardrail ${g.kind === 'maxAbsolute' ? '<=' : '>='} ${fmt(g.limit)}${unit} (LR ${fmt(Math.exp(llr))})`,
    };
  });

  if (enoughBad(cmp.canaryBad) && failLlr >= Math.log(1 / comparison)) {
    return { ...base, pValue, status: 'fail', reason: `${m.name}: worse, ${values} (${evidence})` };
  }
  const failed = guards.find((g) => g.failed);
  if (failed) {
    return { ...base, pValue, status: 'fail', reason: `${m.name}: ${values} breaks ${failed.text}` };
  }
  if (cmp.blocked) {
    return { ...base, pValue, status: 'inconclusive', reason: `${m.name}: ${cmp.blocked} (${cmp.detail})` };
  }
  if (passLlr <= Math.log(PASS_BETA)) {
    const outside = guards.find((g) => !g.within);
    if (outside) {
      return {
        ...base,
        pValue,
        status: 'inconclusive',
        reason: `${m.name}: ${values} is outside ${outside.text}, not yet proven`,
      };
    }
    return {
      ...base,
      pValue,
      status: 'pass',
      reason: `${m.name}: not worse by ${fmt(delta)}, ${values} (${evidence})`,
    };
  }
  return { ...base, pValue, status: 'inconclusive', reason: `${m.name}: not yet, ${values} (${evidence})` };
}

interface Comparison {
  llrAt: (k: number) => number;
  detail: string;
  canaryBad?: number;
  blocked?: string;
}

function compare(m: CustomMetric, s: CustomValues, c: CustomValues, delta: number): Comparison {
  const worseWhenHigher = m.direction === 'lower';
  switch (m.kind) {
    case 'proportion': {
      const bad = (v: CustomValues) => (worseWhenHigher ? (v.matching ?? 0) : v.count - (v.matching ?? 0));
      const [cb, sb] = [bad(c), bad(s)];
      return {
        llrAt: (k) => proportionTest(cb, c.count, sb, s.count, k * delta).llr,
        detail: `${worseWhenHigher ? 'matching' : 'not matching'} ${cb}/${c.count} vs ${sb}/${s.count}, min effect ${worseWhenHigher ? '+' : '-'}${fmt(delta)}`,
        canaryBad: cb,
      };
    }
    case 'mean': {
      const cm = c.count > 0 ? (c.sum ?? 0) / c.count : NaN;
      const sm = s.count > 0 ? (s.sum ?? 0) / s.count : NaN;
      const detail = `mean ${fmt(cm)} vs ${fmt(sm)}, min effect ${worseWhenHigher ? '+' : '-'}${fmt(delta)}`;
      const ch = histogramMoments(c.histogram);
      const sh = histogramMoments(s.histogram);
      if (ch.n < 2 || sh.n < 2) {
        return { llrAt: () => 0, detail, blocked: 'no histogram of values to estimate the spread' };
      }
      // A floor on the variance keeps a run of identical values from looking like certainty.
      const floor = (delta * delta) / 4;
      const v = Math.max(ch.variance, floor) / c.count + Math.max(sh.variance, floor) / s.count;
      const shift = worseWhenHigher ? cm - sm : sm - cm;
      return {
        llrAt: (k) => meanShiftLlr(shift, v, k * delta),
        detail: `${detail} (shift ${fmt(shift)} +- ${fmt(Math.sqrt(v))})`,
      };
    }
    case 'quantile': {
      const q = m.quantile;
      if (c.histogram.length === 0 || s.histogram.length === 0) {
        return { llrAt: () => 0, detail: `q${q} only`, blocked: 'no histogram to compare' };
      }
      const pooled = mergeHistograms(c.histogram, s.histogram);
      let t = histogramQuantile(pooled, q)!;
      if (worseWhenHigher) {
        // Worse means slower/larger: count what lies above the pooled quantile t.
        if (countAbove(pooled, t) === 0) t = [...pooled].reverse().find(([v]) => v < t)?.[0] ?? t;
        const q0 = survivalAt(pooled, t);
        const q1 = (k: number) => survivalAt(pooled, t / (1 + k * delta));
        const [cb, sb] = [countAbove(c.histogram, t), countAbove(s.histogram, t)];
        const usable = (k: number) => t > 0 && q0 > 0 && q1(k) > q0;
        return {
          llrAt: (k) => (usable(k) ? shareTest(cb, c.count, sb, s.count, q1(k), q0).llr : 0),
          detail: `above ${fmt(t)}: ${cb}/${c.count} vs ${sb}/${s.count}, min effect +${fmt(delta * 100)}%`,
          canaryBad: cb,
          blocked: usable(1) ? undefined : 'buckets too coarse to see the minimum effect',
        };
      }
      // Worse means smaller: count what lies at or below t; the canary's values are (1-d) times.
      const below = (h: CustomValues) => h.count - countAbove(h.histogram, t);
      const p0 = 1 - survivalAt(pooled, t);
      const p1 = (k: number) => 1 - survivalAt(pooled, t / (1 - Math.min(0.9, k * delta)));
      const [cb, sb] = [below(c), below(s)];
      const usable = (k: number) => t > 0 && p0 > 0 && p0 < 1 && p1(k) > p0;
      return {
        llrAt: (k) => (usable(k) ? shareTest(cb, c.count, sb, s.count, p1(k), p0).llr : 0),
        detail: `at or below ${fmt(t)}: ${cb}/${c.count} vs ${sb}/${s.count}, min effect -${fmt(delta * 100)}%`,
        canaryBad: cb,
        blocked: usable(1) ? undefined : 'buckets too coarse to see the minimum effect',
      };
    }
  }
}

function mixtureLlr(llrAt: (k: number) => number): number {
  const l = EFFECT_GRID.map((e) => Math.log(e.weight) + llrAt(e.multiple));
  const top = Math.max(...l);
  if (!Number.isFinite(top)) return top;
  return top + Math.log(l.reduce((sum, x) => sum + Math.exp(x - top), 0));
}

/** One-sided SPRT that the canary breaks an absolute limit, and its bad events behind it. */
function guardrailLlr(
  m: CustomMetric,
  c: CustomValues,
  kind: 'maxAbsolute' | 'minAbsolute',
  limit: number,
  delta: number,
): { llr: number; bad?: number } {
  const above = kind === 'maxAbsolute';
  switch (m.kind) {
    case 'proportion': {
      const x = c.matching ?? 0;
      const gap = Math.max(delta, Math.min(limit, 1 - limit) / 2);
      const p1 = above ? Math.min(1, limit + gap) : Math.max(0, limit - gap);
      return { llr: bernoulliLlr(x, c.count, limit, p1), bad: above ? x : c.count - x };
    }
    case 'mean': {
      const h = histogramMoments(c.histogram);
      const mean = (c.sum ?? 0) / c.count;
      const v = Math.max(h.n > 1 ? h.variance : 0, (delta * delta) / 4) / c.count;
      return { llr: meanShiftLlr(above ? mean - limit : limit - mean, v, delta) };
    }
    case 'quantile': {
      // The quantile is above a limit when more than 1-q of the values are; below a floor when
      // more than q are at or below it.
      const x = above ? countAbove(c.histogram, limit) : c.count - countAbove(c.histogram, limit);
      const p0 = above ? 1 - m.quantile : m.quantile;
      const p1 = p0 + Math.min(p0, (1 - p0) / 2);
      return { llr: bernoulliLlr(x, c.count, p0, p1), bad: x };
    }
  }
}

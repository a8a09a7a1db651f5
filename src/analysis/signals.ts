// The metrics read from the answers (tokens, cost, time to first token, tool errors, truncation), as
// a registry of definitions: each names its test family (families.ts) and where its numbers are in
// VersionMetrics.signals, so every judge, the forecast and the words treat it like the built-in of
// the same family, with no statistics of its own. A version whose answers said nothing has no
// value ("nodata"), never zero.
import type { MeanValues, MetricsWindow, VersionMetrics } from '../metrics/types';
import {
  meanComparison,
  meanGuard,
  proportionComparison,
  proportionGuard,
  quantileComparison,
  quantileGuard,
  type AbsoluteKind,
  type Comparison,
  type Family,
  type Moments,
} from './families';
import type { MetricName, SignalMetricName } from './types';
import { fmt, histogramMoments, histogramQuantile, type MetricValue } from './values';

interface Common {
  family: Family;
  /** How a value reads: "1.2%", "812ms", "$0.0031", "412 tokens". */
  show: (v: number) => string;
  /** "output tokens", for "output tokens 812 against 400 on stable". */
  noun: string;
  /** For the forecast: what a healthy stable looks like (a rate, or the mean's coefficient of variation). */
  baseline: number;
}
interface ProportionDef extends Common {
  family: 'proportion';
  /** [bad, samples]. */
  counts: (m: VersionMetrics) => [number, number];
  /** What the bad events are, for the test's detail. */
  events: string;
}
interface QuantileDef extends Common {
  family: 'quantile';
  tail: number;
  hist: (m: VersionMetrics) => { count: number; histogram: [number, number][] };
  unit: string;
}
interface MeanDef extends Common {
  family: 'mean';
  /** minEffect is relative to the stable's mean (0.2 = 20% more), as for the quantiles. */
  values: (m: VersionMetrics) => MeanValues;
}
export type SignalDef = ProportionDef | QuantileDef | MeanDef;

const noMean: MeanValues = { count: 0, sum: 0 };
const tokens = (n: number) => fmt(n);

export const SIGNAL_DEFS: Record<SignalMetricName, SignalDef> = {
  cost_per_request: {
    family: 'mean',
    values: (m) => m.signals?.cost ?? noMean,
    show: (v) => `$${fmt(v)}`,
    noun: 'cost per request',
    baseline: 0.6,
  },
  output_tokens: {
    family: 'mean',
    values: (m) => m.signals?.outputTokens ?? noMean,
    show: tokens,
    noun: 'output tokens',
    baseline: 0.6,
  },
  input_tokens: {
    family: 'mean',
    values: (m) => m.signals?.inputTokens ?? noMean,
    show: tokens,
    noun: 'input tokens',
    baseline: 0.6,
  },
  ttft_p99_ms: {
    family: 'quantile',
    tail: 0.01,
    hist: (m) => m.signals?.ttftMs ?? { count: 0, histogram: [] },
    unit: 'ms',
    show: (v) => `${fmt(v)}ms`,
    noun: 'time to first token p99',
    baseline: 0.01,
  },
  tool_error_rate: {
    family: 'proportion',
    counts: (m) => [m.signals?.tools.errors ?? 0, m.signals?.tools.calls ?? 0],
    events: 'tool calls that cannot run',
    show: (v) => `${fmt(v * 100)}%`,
    noun: 'tool errors',
    baseline: 0.02,
  },
  truncation_rate: {
    family: 'proportion',
    counts: (m) => [m.signals?.finish.truncated ?? 0, m.signals?.finish.count ?? 0],
    events: 'answers cut off',
    show: (v) => `${fmt(v * 100)}%`,
    noun: 'answers cut off',
    baseline: 0.02,
  },
};

export function signalDef(metric: MetricName): SignalDef | undefined {
  return (SIGNAL_DEFS as Partial<Record<MetricName, SignalDef>>)[metric];
}

function defOf(metric: MetricName): SignalDef {
  const d = signalDef(metric);
  if (!d) throw new Error(`not a metric read from the answers: ${metric}`);
  return d;
}

/** Mean and spread: exact from the sum of squares (the gateway), else from the histogram. */
export function meanMoments(v: MeanValues): Moments {
  const n = v.count;
  const mean = n > 0 ? v.sum / n : NaN;
  if (v.sumSquares !== undefined && n > 1) {
    return { n, mean, variance: Math.max(0, (v.sumSquares - (v.sum * v.sum) / n) / (n - 1)) };
  }
  const h = v.histogram ? histogramMoments(v.histogram) : undefined;
  return { n, mean, variance: h && h.n > 1 ? h.variance : 0 };
}

export function signalValue(m: VersionMetrics, metric: MetricName): MetricValue {
  const d = defOf(metric);
  switch (d.family) {
    case 'proportion': {
      const [bad, n] = d.counts(m);
      return { value: n > 0 ? bad / n : null, samples: n };
    }
    case 'quantile': {
      const h = d.hist(m);
      return { value: h.count > 0 ? histogramQuantile(h.histogram, 1 - d.tail) : null, samples: h.count };
    }
    case 'mean': {
      const v = d.values(m);
      return { value: v.count > 0 ? v.sum / v.count : null, samples: v.count };
    }
  }
}

/** The mean family's minEffect in the metric's unit: relative to the stable's mean. */
function absoluteDelta(window: MetricsWindow, d: MeanDef, delta: number): number {
  const s = d.values(window.stable);
  return s.count > 0 ? (delta * s.sum) / s.count : 0;
}

export function signalComparison(window: MetricsWindow, metric: MetricName, delta: number): Comparison {
  const d = defOf(metric);
  switch (d.family) {
    case 'proportion':
      return proportionComparison(d.counts(window.canary), d.counts(window.stable), delta, d.events);
    case 'quantile':
      return quantileComparison(d.hist(window.canary), d.hist(window.stable), d.tail, delta, {
        label: `p${fmt((1 - d.tail) * 100)}`,
        noun: d.noun,
        unit: d.unit,
      });
    case 'mean': {
      const abs = absoluteDelta(window, d, delta);
      if (!(abs > 0)) {
        return {
          llrAt: () => 0,
          detail: 'stable mean 0',
          blocked: `the stable's ${d.noun} is 0: no relative effect`,
        };
      }
      const cv = d.values(window.canary);
      const sv = d.values(window.stable);
      // A mean without its spread (no sum of squares, no histogram) could look certain on two answers.
      const spread = (v: MeanValues) => v.sumSquares !== undefined || (v.histogram?.length ?? 0) > 0;
      if (!spread(cv) || !spread(sv)) {
        return {
          llrAt: () => 0,
          detail: 'means only',
          blocked: 'no histogram of values to estimate the spread',
        };
      }
      const cmp = meanComparison(
        meanMoments(d.values(window.canary)),
        meanMoments(d.values(window.stable)),
        abs,
        'higher',
      );
      return { ...cmp, detail: `${cmp.detail} (+${fmt(delta * 100)}% of stable)` };
    }
  }
}

export function signalGuard(
  canary: VersionMetrics,
  metric: MetricName,
  kind: AbsoluteKind,
  limit: number,
  delta: number,
): { llr: number; bad?: number } {
  const d = defOf(metric);
  switch (d.family) {
    case 'proportion': {
      const [bad, n] = d.counts(canary);
      return proportionGuard(bad, n, kind, limit, delta);
    }
    case 'quantile': {
      const h = d.hist(canary);
      return quantileGuard(h.histogram, h.count, d.tail, kind, limit);
    }
    case 'mean':
      // The limit is in the metric's unit; the effect that separates "at" from "beyond" is relative.
      return meanGuard(meanMoments(d.values(canary)), kind, limit, Math.max(delta * limit, 1e-12));
  }
}

/** LLR drift per canary request under H1 and H0, for the forecast (as predict.ts's built-ins). */
export function signalDrift(
  metric: MetricName,
  w: number,
  delta: number,
  tailIndex: number,
  shareDrift: (w: number, rate0: number, rate1: number, perRequest: number) => { h1: number; h0: number },
): { h1: number; h0: number } {
  const d = defOf(metric);
  switch (d.family) {
    case 'proportion':
      return shareDrift(w, d.baseline, Math.min(1, d.baseline + delta), 1);
    case 'quantile':
      return shareDrift(w, d.tail, d.tail * Math.pow(1 + delta, tailIndex), 1);
    case 'mean': {
      // A relative shift of delta on a coefficient of variation cv: (delta/cv)^2 / 2 per sample.
      const info = ((delta * delta) / (2 * d.baseline * d.baseline)) * (1 - w);
      return { h1: info, h0: -info };
    }
  }
}

/** Words: "$0.0031", "812ms"... */
export function signalValueText(metric: MetricName, v: number | null): string {
  return v === null ? 'n/a' : defOf(metric).show(v);
}

/** "output tokens 812 against 400 on stable". */
export function signalAgainstStable(metric: MetricName, c: number | null, s: number | null): string {
  const d = defOf(metric);
  return `${d.noun} ${signalValueText(metric, c)} against ${signalValueText(metric, s)} on stable`;
}

/** A regression of delta in words: "+20% output tokens", "+2 points of tool errors". */
export function signalEffectText(metric: MetricName, delta: number): string {
  const d = defOf(metric);
  if (d.family === 'proportion') return `+${fmt(delta * 100)} points of ${d.noun}`;
  return `+${fmt(delta * 100)}% ${d.noun}`;
}

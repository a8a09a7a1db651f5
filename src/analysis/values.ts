// Point values of the four metrics and the histogram arithmetic every judge shares.
import type { Histogram, VersionMetrics } from '../metrics/types';
import { signalValue } from './signals';
import type { MetricName, MetricResult } from './types';

export interface MetricValue {
  /** null when there is no sample at all: never read as 0. */
  value: number | null;
  samples: number;
}

export function histogramCount(h: Histogram): number {
  let n = 0;
  for (const [, c] of h) n += c;
  return n;
}

/** Quantile q in [0,1] of a [value,count] histogram: the smallest bucket holding rank ceil(q*n). */
export function histogramQuantile(h: Histogram, q: number): number | null {
  const n = histogramCount(h);
  if (n === 0) return null;
  const rank = Math.max(1, Math.ceil(q * n));
  let seen = 0;
  for (const [v, c] of h) {
    seen += c;
    if (seen >= rank) return v;
  }
  return h[h.length - 1][0];
}

/** Samples strictly above a value. */
export function countAbove(h: Histogram, limit: number): number {
  let n = 0;
  for (const [v, c] of h) if (v > limit) n += c;
  return n;
}

/**
 * Fraction of samples above x. Exact at bucket values; between two bucket values interpolated
 * log-linearly in log x (a locally exponential tail), so that "above t/1.1" moves smoothly with the
 * factor instead of jumping from bucket to bucket. Below the first bucket value: that bucket's share.
 */
export function survivalAt(h: Histogram, x: number): number {
  const n = histogramCount(h);
  if (n === 0) return 0;
  let above = n;
  let prevV = NaN;
  let prevS = 1;
  for (const [v, c] of h) {
    const s = (above - c) / n;
    if (x < v) {
      if (Number.isNaN(prevV) || x <= prevV) return Number.isNaN(prevV) ? s : prevS;
      const f = Math.log(x / prevV) / Math.log(v / prevV);
      return s > 0 ? Math.exp(Math.log(prevS) + f * Math.log(s / prevS)) : prevS + f * (s - prevS);
    }
    above -= c;
    prevV = v;
    prevS = s;
  }
  return 0;
}

export function histogramMoments(h: Histogram): { n: number; mean: number; variance: number } {
  let n = 0;
  let sum = 0;
  for (const [v, c] of h) {
    n += c;
    sum += v * c;
  }
  if (n === 0) return { n: 0, mean: NaN, variance: NaN };
  const mean = sum / n;
  let ss = 0;
  for (const [v, c] of h) ss += c * (v - mean) * (v - mean);
  return { n, mean, variance: n > 1 ? ss / (n - 1) : 0 };
}

/** Adds histograms bucket by bucket (both versions share one bucket scheme). */
export function mergeHistograms(a: Histogram, b: Histogram): Histogram {
  const out: Histogram = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i][0] < b[j][0])) out.push([a[i][0], a[i++][1]]);
    else if (i >= a.length || b[j][0] < a[i][0]) out.push([b[j][0], b[j++][1]]);
    else out.push([a[i][0], a[i++][1] + b[j++][1]]);
  }
  return out;
}

export function metricValue(m: VersionMetrics, metric: MetricName): MetricValue {
  switch (metric) {
    case 'error_rate':
      return { value: m.requests > 0 ? m.errors / m.requests : null, samples: m.requests };
    case 'p99_latency_ms': {
      const samples = m.latencyMs.count;
      if (samples === 0) return { value: null, samples };
      return { value: m.latencyMs.p99 ?? histogramQuantile(m.latencyMs.histogram, 0.99), samples };
    }
    case 'task_success_rate': {
      const { successes, total } = m.taskSuccess;
      return { value: total > 0 ? successes / total : null, samples: total };
    }
    case 'quality_score':
      return {
        value: m.quality.count > 0 ? m.quality.sum / m.quality.count : null,
        samples: m.quality.count,
      };
    case 'preference':
      // A property of pairs, not of one version's traffic (src/analysis/preference.ts judges it).
      return { value: null, samples: 0 };
    default:
      return signalValue(m, metric);
  }
}

/** "too few samples (24 of 100 on the canary)". */
export function tooFew(canary: number, stable: number, minSamples: number): string {
  const side =
    canary < minSamples && stable < minSamples ? 'each' : canary < minSamples ? 'on the canary' : 'on stable';
  return `too few samples (${Math.min(canary, stable)} of ${minSamples} ${side})`;
}

/** Short, readable number for reasons: 0.0123, 412ms, 0.85. */
export function fmt(x: number | null): string {
  if (x === null || Number.isNaN(x)) return 'n/a';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 1) return Number(x.toPrecision(4)).toString();
  return Number(x.toPrecision(3)).toString();
}

/**
 * Both versions' values of one metric, the fields every judge reports, and a "nodata" result when
 * either side is under minSamples: too little data is never judged, by any judge.
 */
export function measure(
  window: { stable: VersionMetrics; canary: VersionMetrics },
  minSamples: number,
  metric: MetricName,
) {
  const s = metricValue(window.stable, metric);
  const c = metricValue(window.canary, metric);
  const base = {
    metric,
    stable: s.value,
    canary: c.value,
    stableSamples: s.samples,
    canarySamples: c.samples,
  };
  const nodata: MetricResult | null =
    c.samples < minSamples || s.samples < minSamples || c.value === null || s.value === null
      ? {
          ...base,
          status: 'nodata',
          reason: `${metric}: ${tooFew(c.samples, s.samples, minSamples)}`,
        }
      : null;
  return { s: s as MetricValue & { value: number }, c: c as MetricValue & { value: number }, base, nodata };
}

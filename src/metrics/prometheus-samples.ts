// Prometheus instant-query results and the arithmetic that turns them into a window's counts.
import type { Histogram } from './types';

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** Several series (a query without sum()) add up; no series is no data (0). */
export function total(samples: Sample[]): number {
  let t = 0;
  for (const s of samples) {
    const v = Number(s.value[1]);
    if (Number.isFinite(v)) t += v;
  }
  return t;
}

/** increase() extrapolates to the window's edges: counts are rounded, never negative. */
export function count(x: number): number {
  return Number.isFinite(x) && x > 0 ? Math.round(x) : 0;
}

/** Cumulative `le` buckets -> non-cumulative [upperBound, count] pairs; +Inf at the last finite bound. */
export function fromBuckets(samples: Sample[], scale: number): { histogram: Histogram; count: number } {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    const le = s.metric.le;
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le) * scale;
    const v = Number(s.value[1]);
    if (Number.isNaN(bound) || !Number.isFinite(v)) continue;
    byLe.set(bound, (byLe.get(bound) ?? 0) + v);
  }
  const cumulative = [...byLe].sort((a, b) => a[0] - b[0]);
  const histogram: Histogram = [];
  let prev = 0;
  let lastFinite = 0;
  for (const [bound, cum] of cumulative) {
    const n = Math.round(Math.max(0, cum - prev));
    prev = Math.max(prev, cum);
    if (Number.isFinite(bound)) lastFinite = bound;
    if (n === 0) continue;
    const value = Number.isFinite(bound) ? Number(bound.toPrecision(6)) : lastFinite;
    const last = histogram[histogram.length - 1];
    if (last && last[0] === value) last[1] += n;
    else histogram.push([value, n]);
  }
  return { histogram, count: histogram.reduce((sum, [, n]) => sum + n, 0) };
}

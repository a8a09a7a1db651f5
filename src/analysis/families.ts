// The three test families every judged metric belongs to, shared by the built-ins and the metrics
// read from the answers (signals.ts): a proportion of bad events (error_rate, tool_error_rate), a
// quantile of a histogram (p99_latency_ms, ttft_p99_ms), a mean (quality_score, tokens, cost). Each
// gives the statistical judge its comparison (ln LR of "worse by k x minEffect" against "no worse")
// and its absolute guardrail test; see statistical.ts for how they are combined and bounded.
import type { Histogram } from '../metrics/types';
import { bernoulliLlr, meanShiftLlr, proportionTest, shareTest } from './sequential';
import { countAbove, fmt, histogramQuantile, mergeHistograms, survivalAt } from './values';

export type Family = 'proportion' | 'quantile' | 'mean';
export type AbsoluteKind = 'maxAbsolute' | 'minAbsolute';

export interface Comparison {
  /** ln LR of "worse by k times the minimum effect" against "no worse". */
  llrAt: (k: number) => number;
  /** What the test compared, for the reason. */
  detail: string;
  /** The canary's bad events (errors, failed tasks, slow requests) behind a fail, if counted. */
  canaryBad?: number;
  /** Set when the data cannot show the minimum effect, so the metric cannot pass (e.g. coarse buckets). */
  blocked?: string;
  /** Counted events judged per conversation (exact) or per request (tempered by the rollout). */
  unit?: 'conversation' | 'request';
  /** Measured inflation of the canary's per-request variance (errors) or its mean's design effect. */
  inflation?: number;
}

/** Bad events against samples, H1: the canary's rate is the stable's + delta (absolute). */
export function proportionComparison(
  canary: [bad: number, n: number],
  stable: [bad: number, n: number],
  delta: number,
  what: string,
): Comparison {
  const [cb, cn] = canary;
  const [sb, sn] = stable;
  return {
    llrAt: (k) => proportionTest(cb, cn, sb, sn, k * delta).llr,
    detail: `${what} ${cb}/${cn} vs ${sb}/${sn}, min effect +${fmt(delta)}`,
    canaryBad: cb,
  };
}

/**
 * Sequential quantile test, worse when higher: count samples above t, the pooled quantile (any
 * threshold fixed by the pooled data is fair under H0), in each version. Under H1 the canary is
 * (1+d) times larger, so its share above t is the pooled share above t/(1+d).
 */
export function quantileComparison(
  canary: { count: number; histogram: Histogram },
  stable: { count: number; histogram: Histogram },
  tail: number,
  delta: number,
  /** "p99", "latency", "ms": for the reasons. */
  words: { label: string; noun: string; unit: string },
): Comparison {
  const { label, noun, unit } = words;
  const ch = canary.histogram;
  const sh = stable.histogram;
  if (ch.length === 0 || sh.length === 0) {
    return { llrAt: () => 0, detail: `${label} only`, blocked: `no ${noun} histogram to compare` };
  }
  const pooled = mergeHistograms(ch, sh);
  let t = histogramQuantile(pooled, 1 - tail)!;
  // When the quantile is the top bucket nothing is above it: use the bucket below.
  if (countAbove(pooled, t) === 0) t = [...pooled].reverse().find(([v]) => v < t)?.[0] ?? t;
  const q0 = survivalAt(pooled, t);
  const q1 = (k: number) => survivalAt(pooled, t / (1 + k * delta));
  const cb = countAbove(ch, t);
  const sb = countAbove(sh, t);
  const detail = `above ${fmt(t)}${unit}: ${cb}/${canary.count} vs ${sb}/${stable.count}, min effect +${fmt(delta * 100)}%`;
  const usable = (k: number) => q0 > 0 && q1(k) > q0;
  return {
    // Buckets too coarse for an effect leave that alternative out of the evidence (LR 1).
    llrAt: (k) => (usable(k) ? shareTest(cb, canary.count, sb, stable.count, q1(k), q0).llr : 0),
    detail,
    canaryBad: cb,
    blocked: usable(1) ? undefined : `${noun} buckets too coarse to see the minimum effect`,
  };
}

export interface Moments {
  n: number;
  mean: number;
  variance: number;
}

/**
 * Shift of means in the bad direction (`worse`: which way is bad), H1: shifted by delta (in the
 * metric's unit). A floor on the variance keeps a run of identical values from looking like certainty.
 */
export function meanComparison(
  canary: Moments,
  stable: Moments,
  delta: number,
  worse: 'higher' | 'lower',
): Comparison {
  const floor = (delta * delta) / 4;
  const v = Math.max(canary.variance, floor) / canary.n + Math.max(stable.variance, floor) / stable.n;
  const shift = worse === 'higher' ? canary.mean - stable.mean : stable.mean - canary.mean;
  const sign = worse === 'higher' ? '+' : '-';
  const word = worse === 'higher' ? 'rise' : 'drop';
  return {
    llrAt: (k) => meanShiftLlr(shift, v, k * delta),
    detail: `mean ${fmt(canary.mean)} vs ${fmt(stable.mean)} (${word} ${fmt(shift)} +- ${fmt(Math.sqrt(v))}), min effect ${sign}${fmt(delta)}`,
  };
}

/** A proportion beyond an absolute limit: ln LR of "clearly beyond" against "at the limit". */
export function proportionGuard(
  x: number,
  n: number,
  kind: AbsoluteKind,
  limit: number,
  delta: number,
): { llr: number; bad: number } {
  const above = kind === 'maxAbsolute';
  const gap = Math.max(delta, Math.min(limit, 1 - limit) / 2);
  const p1 = above ? Math.min(1, limit + gap) : Math.max(0, limit - gap);
  return { llr: bernoulliLlr(x, n, limit, p1), bad: above ? x : n - x };
}

/** A high quantile above (or below) a limit: more than `tail` of the samples are; H1: twice (half) that. */
export function quantileGuard(
  histogram: Histogram,
  n: number,
  tail: number,
  kind: AbsoluteKind,
  limit: number,
): { llr: number; bad: number } {
  const above = kind === 'maxAbsolute';
  const x = countAbove(histogram, limit);
  const p1 = above ? 2 * tail : tail / 2;
  return { llr: bernoulliLlr(x, n, tail, p1), bad: above ? x : n - x };
}

/** A mean beyond an absolute limit, by delta. */
export function meanGuard(m: Moments, kind: AbsoluteKind, limit: number, delta: number): { llr: number } {
  const v = Math.max(m.variance, (delta * delta) / 4) / m.n;
  return { llr: meanShiftLlr(kind === 'maxAbsolute' ? m.mean - limit : limit - m.mean, v, delta) };
}

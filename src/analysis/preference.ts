// The `preference` metric of a shadow stage: the evaluator saw the stable's and the canary's answer
// to the same request, blind and in both orders; a pair is a win (the canary preferred both times),
// a loss (the stable both times) or a tie (a disagreement between the orders, or a tie said twice).
// Ties are set aside; among decided pairs the canary's wins are Binomial(n, p).
//
// A sign test made sequential with mixture alternatives, so every look is allowed:
// - fail: H0 "no worse" (p = 1/2) against a mixture of "worse by k x minEffect" (p = 1/2 - k delta).
//   The mixture's likelihood ratio is a martingale under p = 1/2 and a supermartingale for p above
//   it, so by Ville's inequality a canary that is no worse is ever failed with probability <= alpha.
// - pass: H0 "worse by minEffect" (p = 1/2 - delta) against a mixture of "no worse" (p = 1/2,
//   1/2 + delta, 1/2 + 2 delta). The same argument bounds the chance that a canary worse by minEffect
//   (or more) ever passes by beta.
// Pure: no I/O; test/preference.test.ts checks both bounds by simulation with a look after every pair.
import type { MetricResult } from './types';
import { fmt } from './values';

export interface PairCounts {
  wins: number;
  ties: number;
  losses: number;
}

/** Multiples of minEffect on the fail side, with their mixture weights (small effects get most). */
export const FAIL_GRID: readonly { multiple: number; weight: number }[] = [
  { multiple: 1, weight: 0.5 },
  { multiple: 2, weight: 0.3 },
  { multiple: 4, weight: 0.2 },
];
/** Win shares above the pass side's null (1/2 - delta), in multiples of delta, with weights. */
const PASS_GRID: readonly { multiple: number; weight: number }[] = [
  { multiple: 1, weight: 0.5 }, // p = 1/2: as good as the stable
  { multiple: 2, weight: 0.3 },
  { multiple: 3, weight: 0.2 },
];
/** Decided pairs before the test may say anything: a verdict on three pairs would surprise people. */
export const MIN_DECIDED_PAIRS = 10;
const P_MIN = 0.01;
const P_MAX = 0.99;

const clampP = (p: number) => Math.min(P_MAX, Math.max(P_MIN, p));

/** ln of sum_k w_k (p_k / p0)^wins ((1 - p_k) / (1 - p0))^losses, computed stably. */
export function mixtureLlr(
  wins: number,
  losses: number,
  p0: number,
  alternatives: readonly { p: number; weight: number }[],
): number {
  const terms = alternatives.map(
    (a) => Math.log(a.weight) + wins * Math.log(a.p / p0) + losses * Math.log((1 - a.p) / (1 - p0)),
  );
  const top = Math.max(...terms);
  return top + Math.log(terms.reduce((sum, t) => sum + Math.exp(t - top), 0));
}

export interface PreferenceTest {
  status: 'pass' | 'fail' | 'inconclusive';
  /** ln LR of "worse" against "no worse", and of "no worse" against "worse by minEffect". */
  failLlr: number;
  passLlr: number;
  decided: number;
  /** The canary's win share among decided pairs (null without any). */
  share: number | null;
}

/**
 * The sequential sign test on the pairs so far. `alpha`: the false-fail bound for a canary as good as
 * the stable; `beta`: the false-pass bound for one worse by `minEffect` (a win share of 1/2 - minEffect).
 */
export function preferenceTest(
  pairs: PairCounts,
  minEffect: number,
  alpha: number,
  beta: number,
): PreferenceTest {
  const { wins, losses } = pairs;
  const decided = wins + losses;
  const delta = Math.min(0.45, Math.max(1e-3, minEffect));
  const failAlt = FAIL_GRID.map((g) => ({ p: clampP(0.5 - g.multiple * delta), weight: g.weight }));
  const p0Pass = 0.5 - delta;
  const passAlt = PASS_GRID.map((g) => ({ p: clampP(p0Pass + g.multiple * delta), weight: g.weight }));
  const failLlr = mixtureLlr(wins, losses, 0.5, failAlt);
  const passLlr = mixtureLlr(wins, losses, p0Pass, passAlt);
  const share = decided > 0 ? wins / decided : null;
  let status: PreferenceTest['status'] = 'inconclusive';
  if (decided >= MIN_DECIDED_PAIRS) {
    if (failLlr >= Math.log(1 / alpha)) status = 'fail';
    else if (passLlr >= Math.log(1 / beta)) status = 'pass';
  }
  return { status, failLlr, passLlr, decided, share };
}

/** "12 of 30 decided pairs won by the canary (40%), 8 ties". */
export function pairsText(p: PairCounts): string {
  const decided = p.wins + p.losses;
  const share = decided > 0 ? ` (${fmt((p.wins / decided) * 100)}%)` : '';
  return `canary preferred in ${p.wins} of ${decided} decided pair${decided === 1 ? '' : 's'}${share}, ${p.ties} tie${p.ties === 1 ? '' : 's'}`;
}

/**
 * The metric result of `preference` at one check. `unavailable`: why the evaluator gives no verdicts
 * now (down, out of its day's tokens), which is no data, never a pass.
 */
export function judgePreference(
  pairs: PairCounts | undefined,
  opts: { minEffect: number; alpha: number; beta: number; unavailable?: string },
): MetricResult {
  const p = pairs ?? { wins: 0, ties: 0, losses: 0 };
  const t = preferenceTest(p, opts.minEffect, opts.alpha, opts.beta);
  const base = {
    metric: 'preference' as const,
    canary: t.share,
    stable: t.share === null ? null : 1 - t.share,
    canarySamples: t.decided,
    stableSamples: t.decided,
    pValue: Math.min(1, Math.exp(-t.failLlr)),
  };
  const words = pairsText(p);
  if (t.status === 'fail') {
    return { ...base, status: 'fail', reason: `preference: worse than stable: ${words}` };
  }
  // At the evaluator's cap (or while it is down) the stage waits: never a pass on what came before.
  if (opts.unavailable) {
    return { ...base, status: 'nodata', reason: `preference: no data: ${opts.unavailable}; ${words}` };
  }
  if (t.decided < MIN_DECIDED_PAIRS) {
    const judged = p.wins + p.ties + p.losses;
    return {
      ...base,
      status: judged === 0 ? 'nodata' : 'inconclusive',
      reason: `preference: not yet: ${words} (needs ${MIN_DECIDED_PAIRS} decided)`,
    };
  }
  if (t.status === 'pass') {
    return {
      ...base,
      status: 'pass',
      reason: `preference: not worse by ${fmt(opts.minEffect * 100)} points: ${words}`,
    };
  }
  return { ...base, status: 'inconclusive', reason: `preference: not yet: ${words}` };
}

// Sequential probability ratio statistics. Every test here compares "no regression" (H0) with
// "regressed by the minimum effect" or more (H1), judged on cumulative data at every look.
//
// Why likelihood-ratio tests and not group-sequential alpha spending: the workflow looks every
// interval for as long as a stage lasts, and a stage can be extended or paused, so the number and
// timing of looks is not known in advance, which alpha spending needs. Under H0 a likelihood ratio
// (or any fixed mixture of them) is a nonnegative martingale, so by Ville's inequality
// P(ever LR >= 1/a) <= a, for any number of looks at any times, including continuous monitoring:
// the rejection threshold ln(1/a) is all the protection repeated looks need. Tuning the alternative
// to the minimum effect (Wald's SPRT) rather than a broad prior (the normal-mixture mSPRT of Johari
// et al.) keeps the expected sample size close to Wald's optimum near the effects we care about, and
// its lower boundary gives a meaningful "pass": evidence that the canary is not worse by the minimum
// effect. The judge (statistical.ts) mixes a few multiples of the minimum effect on the fail side.

/** ln of the Bernoulli likelihood ratio p1 vs p0 for x successes in n trials; 0*ln(0) = 0. */
export function bernoulliLlr(x: number, n: number, p0: number, p1: number): number {
  const term = (k: number, a: number, b: number): number => {
    if (k === 0) return 0;
    if (a === b) return 0;
    if (a === 0) return -Infinity;
    if (b === 0) return Infinity;
    return k * Math.log(a / b);
  };
  return term(x, p1, p0) + term(n - x, 1 - p1, 1 - p0);
}

/** Kullback-Leibler divergence KL(Bern(p) || Bern(q)) in nats. */
export function bernoulliKl(p: number, q: number): number {
  return bernoulliLlr(p, 1, q, p);
}

export interface ShareTest {
  /** ln LR of H1 vs H0. */
  llr: number;
  /** P(a bad event is the canary's) under H0 and under H1. */
  pi0: number;
  pi1: number;
}

/**
 * Two-sample comparison of the rates of a "bad event" (an error, a failed task, a slow request),
 * conditional on the bad events seen. Under H0 (same rate in both versions) every bad event's version
 * is an independent draw with P(canary) = the canary's share of the samples, whatever the rate is:
 * the unknown baseline rate drops out exactly, so the test needs no plug-in under H0. H1 says the
 * canary's rate is rate1c where the stable's is rate1s; only the alternative uses estimates.
 */
export function shareTest(
  canaryBad: number,
  canaryN: number,
  stableBad: number,
  stableN: number,
  rate1c: number,
  rate1s: number,
): ShareTest {
  const pi0 = canaryN / (canaryN + stableN);
  const pi1 = (canaryN * rate1c) / (canaryN * rate1c + stableN * rate1s);
  return { llr: bernoulliLlr(canaryBad, canaryBad + stableBad, pi0, pi1), pi0, pi1 };
}

/**
 * Proportion of bad events (errors, failed tasks), H1: the canary's rate is the stable's + delta.
 * The H1 rates come from the pooled rate only, which under H0 says nothing about which version each
 * bad event came from, so choosing them this way keeps the H0 martingale intact.
 */
export function proportionTest(
  canaryBad: number,
  canaryN: number,
  stableBad: number,
  stableN: number,
  delta: number,
): ShareTest {
  const bad = canaryBad + stableBad;
  const pi0 = canaryN / (canaryN + stableN);
  if (bad === 0) {
    // No bad event anywhere: the share test has nothing to go on, but a canary that was at least
    // delta bad would have shown one with probability 1-(1-delta)^n: evidence for H0, never against.
    return { llr: canaryN * Math.log1p(-Math.min(delta, 1 - 1e-12)), pi0, pi1: pi0 };
  }
  const pooled = bad / (canaryN + stableN);
  // Under H1 the pooled rate is stable + share*delta; solve for the stable rate, bounded away from 0.
  const rate1s = Math.max(pooled - pi0 * delta, pooled / 4);
  const rate1c = Math.min(rate1s + delta, 1);
  return shareTest(canaryBad, canaryN, stableBad, stableN, rate1c, rate1s);
}

/**
 * Gaussian SPRT for a shift in means: dHat is the observed shift in the bad direction with variance
 * v; H0 shift 0, H1 shift delta. exp(llr) is a martingale under H0 in the normal approximation
 * (Brownian motion in information time), so the same Ville bound applies.
 */
export function meanShiftLlr(dHat: number, v: number, delta: number): number {
  return (delta * dHat - (delta * delta) / 2) / v;
}

/**
 * Wald's approximation of the expected sample size of an SPRT that stops at the first crossing of
 * ln(1/alpha) or ln(beta), when the true per-sample drift of the LLR is `drift` (> 0: toward H1).
 */
export function sprtExpectedSamples(drift: number, alpha: number, beta: number): number {
  const a = Math.log((1 - beta) / alpha);
  const b = Math.log(beta / (1 - alpha));
  return drift > 0 ? ((1 - beta) * a + beta * b) / drift : ((1 - alpha) * b + alpha * a) / drift;
}

/** Wald's expected sample size of the one-sample SPRT p0 vs p1 when p1 is true (the theoretical best). */
export function waldBernoulliAsn(p0: number, p1: number, alpha: number, beta: number): number {
  return sprtExpectedSamples(bernoulliKl(p1, p0), alpha, beta);
}

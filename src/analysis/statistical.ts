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
import {
  countAbove,
  fmt,
  histogramMoments,
  histogramQuantile,
  measure,
  mergeHistograms,
  metricValue,
} from './values';
import { meanShiftLlr, proportionTest, shareTest } from './sequential';
import { againstStable, effectText, valueText } from './words';
import { guardWindow, OUTCOME_METRICS } from './settled';
import {
  badConversations,
  clusterMeanVariance,
  conversationSurvival,
  conversationsAbove,
  conversationsOf,
  withinDispersion,
} from './conversations';

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
/** Mean turns per conversation in a window above which p99 is judged per request (see compare). */
const LONG_CONVERSATION_TURNS = 20;
/** Steps of the grid the conversation test's latency threshold is rounded to. */
const P99_GRID = 1.25;
/** Share of conversations whose slowest request the conversation latency test looks above, at most. */
const CONVERSATION_TAIL = 0.1;
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

/** The comparison of rules 3 before judge-v4: every request an independent draw. */
function compareV3(window: MetricsWindow, metric: MetricName, delta: number): Comparison {
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

function compare(window: MetricsWindow, metric: MetricName, delta: number, v4: boolean): Comparison {
  if (!v4) return compareV3(window, metric, delta);
  const { stable, canary } = window;
  const conv = conversationsOf(stable, canary);
  switch (metric) {
    case 'error_rate':
    case 'task_success_rate': {
      const [cb, cn] = badEvents(canary, metric);
      const [sb, sn] = badEvents(stable, metric);
      const what = metric === 'error_rate' ? 'errors' : 'failed tasks';
      if (canary.conversations && stable.conversations) {
        // Requests (outcomes) are counted, and the share test's ln LR divided by the dispersion
        // measured within each version's conversations (quasi-likelihood): a conversation whose
        // every turn fails weighs as one bursty unit, while long conversations with independent
        // errors keep the power of all their requests (a per-conversation "any error" would not).
        const phi = withinDispersion(canary, stable, metric);
        const bad = badConversations(canary.conversations, metric);
        return {
          llrAt: (k) => proportionTest(cb, cn, sb, sn, k * delta).llr / phi.value,
          detail:
            `${what} ${cb}/${cn} vs ${sb}/${sn} in ${bad.bad} of ${bad.n} canary conversations, ` +
            `min effect +${fmt(delta)}; variance ${fmt(phi.value)}x binomial, allowed for`,
          // A fail needs MIN_BAD_EVENTS conversations behind it, not one user's retries.
          canaryBad: bad.bad,
          unit: 'conversation',
          inflation: phi.value,
        };
      }
      return { ...compareV3(window, metric, delta), canaryBad: cb, unit: 'request' };
    }
    case 'p99_latency_ms': {
      // Sequential quantile test: count requests above t, the pooled p99 (any threshold fixed by the
      // pooled data is fair under H0), in each version. Under H1 the canary is (1+d) times slower, so
      // its share above t is the pooled share above t/(1+d).
      const ch = canary.latencyMs.histogram;
      const sh = stable.latencyMs.histogram;
      // Each conversation's slowest request is one unit: when conversations are long (a few
      // long-lived sessions), that leaves too few units to ever decide, and the slowest of many
      // turns says little about the tail: judged per request then, tempered by the rollout.
      const turns = conv ? (canary.requests + stable.requests) / Math.max(1, conv.c.count + conv.s.count) : 0;
      if (
        ch.length === 0 ||
        sh.length === 0 ||
        !conv ||
        !conv.c.slowest.length ||
        !conv.s.slowest.length ||
        turns > LONG_CONVERSATION_TURNS
      ) {
        return { ...compareV3(window, metric, delta), unit: 'request' };
      }
      const pooled = mergeHistograms(ch, sh);
      let t = histogramQuantile(pooled, 1 - P99_TAIL)!;
      // When the p99 is the top bucket nothing is above it: use the bucket below.
      if (countAbove(pooled, t) === 0) t = [...pooled].reverse().find(([v]) => v < t)?.[0] ?? t;
      {
        // Per conversation: did its slowest request go above t? Under H1 every canary request is
        // (1+d) times slower, so its slowest is too: the pooled share above t/(1+d). t is the
        // pooled p99 rounded up to a fixed grid, so that it does not move at every look (a
        // threshold chosen anew each time is a search over thresholds, which the bound does not
        // allow for).
        // Where most conversations are long, few go above the requests' p99 and the test would
        // starve: the threshold is also at most the slowest request of the slowest 10% of
        // conversations (still the tail, by conversation).
        const slowest = mergeHistograms(conv.c.slowest, conv.s.slowest);
        const total = conv.c.count + conv.s.count;
        const top =
          slowest.find(([v]) => conversationsAbove(slowest, v) <= CONVERSATION_TAIL * total)?.[0] ?? t;
        t = Math.min(t, top);
        t = P99_GRID ** Math.round(Math.log(t) / Math.log(P99_GRID));
        const c0 = conversationSurvival(slowest, total, t);
        const c1 = (k: number) => conversationSurvival(slowest, total, t / (1 + k * delta));
        const cb = conversationsAbove(conv.c.slowest, t);
        const sb = conversationsAbove(conv.s.slowest, t);
        const ok = (k: number) => c0 > 0 && c1(k) > c0;
        return {
          llrAt: (k) => (ok(k) ? shareTest(cb, conv.c.count, sb, conv.s.count, c1(k), c0).llr : 0),
          detail: `conversations above ${fmt(t)}ms: ${cb}/${conv.c.count} vs ${sb}/${conv.s.count}, min effect +${fmt(delta * 100)}%`,
          canaryBad: cb,
          unit: 'conversation',
          blocked: ok(1) ? undefined : 'latency buckets too coarse to see the minimum effect',
        };
      }
      return { ...compareV3(window, metric, delta), unit: 'request' };
    }
    case 'quality_score': {
      const c = moments(canary);
      const s = moments(stable);
      // A floor on the variance keeps a run of identical scores from looking like certainty.
      const floor = (delta * delta) / 4;
      const iidC = Math.max(c.variance, floor) / c.n;
      const iidS = Math.max(s.variance, floor) / s.n;
      // Scores of one conversation resemble each other: the cluster-robust variance of each mean,
      // never below the independent one (the sums of conversations that began earlier make it
      // approximate, on the large side).
      const cc = clusterMeanVariance(canary, iidC);
      const sc = clusterMeanVariance(stable, iidS);
      const v = Math.max(iidC, cc?.v ?? 0) + Math.max(iidS, sc?.v ?? 0);
      const drop = s.mean - c.mean;
      const inflation = cc && sc ? v / (iidC + iidS) : undefined;
      return {
        llrAt: (k) => meanShiftLlr(drop, v, k * delta),
        detail:
          `mean ${fmt(c.mean)} vs ${fmt(s.mean)} (drop ${fmt(drop)} +- ${fmt(Math.sqrt(v))}), min effect -${fmt(delta)}` +
          (inflation !== undefined
            ? `; design effect of conversations ${fmt(inflation)}`
            : '; scores as independent'),
        ...(inflation !== undefined ? { inflation, unit: 'conversation' as const } : {}),
      };
    }
    default:
      return signalComparison(window, metric, delta);
  }
}

/** Conversations per version below which the mean of their own rates is not read (judge v5). */
export const MIN_MEAN_CONVERSATIONS = 30;
/**
 * Judge v6: conversations per version from which an early stage may pass on their means (the pass
 * side only: a canary worse by the stage's multiple leaves the stage a little more often, to be
 * judged by the later stages; quality's fail side keeps MIN_MEAN_CONVERSATIONS). At 1 request/s a
 * 5% stage sees 0.3 conversations a minute: 30 take 100 minutes, 15 take 50.
 */
export const MIN_PASS_CONVERSATIONS = 15;

/**
 * Judge v5: ln LR of "worse by k x delta" against "no worse" on the difference of the two versions'
 * means of per-conversation means (each conversation's error rate, failure rate or mean score, every
 * conversation one unit), a Gaussian test with each mean's variance from the spread of its
 * conversations. One user whose every turn fails weighs 1/N of the canary's mean, not its share of
 * the requests; a few long conversations carry one unit each. Undefined without the gateway's
 * per-conversation means or with fewer than MIN_MEAN_CONVERSATIONS on either version.
 */
export function conversationMeanLlr(
  window: MetricsWindow,
  metric: MetricName,
  delta: number,
  minConversations = MIN_MEAN_CONVERSATIONS,
): { llrAt: (k: number) => number; detail: string; n: number } | undefined {
  const of = (m: VersionMetrics) => {
    const c = m.conversations;
    if (!c) return undefined;
    const [sum, sq, n] =
      metric === 'error_rate'
        ? [c.errorRateSum, c.errorRateSq, c.count]
        : metric === 'task_success_rate'
          ? [c.failureRateSum, c.failureRateSq, c.tasked]
          : metric === 'quality_score'
            ? [c.qualityMeanSum, c.qualityMeanSq, c.scored]
            : [undefined, undefined, 0];
    if (sum === undefined || sq === undefined || n === undefined || n < minConversations) return undefined;
    const mean = sum / n;
    // A floor keeps a run of identical conversations from looking like certainty (as for scores).
    const variance = Math.max(((sq / n - mean * mean) * n) / (n - 1), (delta * delta) / 4);
    return { mean, v: variance / n, n };
  };
  const c = of(window.canary);
  const s = of(window.stable);
  if (!c || !s) return undefined;
  const worse = metric === 'quality_score' ? s.mean - c.mean : c.mean - s.mean;
  return {
    llrAt: (k) => meanShiftLlr(worse, c.v + s.v, k * delta),
    n: Math.min(c.n, s.n),
    detail:
      `conversations' own means ${fmt(c.mean)} vs ${fmt(s.mean)} in ${c.n} vs ${s.n} conversations ` +
      `(${metric === 'quality_score' ? 'drop' : 'rise'} ${fmt(worse)} +- ${fmt(Math.sqrt(c.v + s.v))})`,
  };
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

/**
 * What a guardrail's one-sample test on the canary divides its counted evidence by: the measured
 * variance inflation of the canary's errors when the source counts conversations (a per-request
 * limit is about requests, so the test stays per request, with its variance as measured), the mean
 * conversation length for other counts (the worst case of identical turns), 1 without conversations.
 */
function guardTemper(window: MetricsWindow, metric: MetricName, cmp: Comparison): number {
  // Judged per request the rollout tempers by DISPERSION already; twice would starve the guardrail.
  if (cmp.unit === 'request') return 1;
  if (metric !== 'quality_score' && cmp.inflation !== undefined) return Math.max(1, cmp.inflation);
  const conv = window.canary.conversations;
  if (!conv || conv.count === 0) return 1;
  const n = metric === 'task_success_rate' ? window.canary.taskSuccess.total : window.canary.requests;
  const units = metric === 'task_success_rate' ? conv.tasked : conv.count;
  return units > 0 ? Math.max(1, n / units) : 1;
}

/** Metrics whose absolute limits, broken on the stable too, hold the stage (an upstream incident). */
export const HOLD_ON_STABLE_BEYOND: ReadonlySet<MetricName> = new Set(['error_rate', 'p99_latency_ms']);

/** A fail needs MIN_BAD_EVENTS behind it wherever bad events are counted. */
const enoughBad = (bad: number | undefined): boolean => bad === undefined || bad >= MIN_BAD_EVENTS;

/** JSON-safe ln LR: history payloads carry no Infinity. */
export const clampLlr = (x: number): number => Math.max(-1e6, Math.min(1e6, Number.isNaN(x) ? 0 : x));

/**
 * Above this error rate on both versions the comparison means nothing: the upstream (a model API,
 * a tool) is down for both, and rolling back to an equally broken stable helps nobody.
 */
export const BROKEN_STABLE_ERROR_RATE = 0.5;

/**
 * One metric's verdict on one window. `v4` (rollouts started under patch judge-v4): conversations as
 * the unit and incidents on both versions held; without it, rules 3 exactly as they were.
 */
function judgeMetric(
  window: MetricsWindow,
  analysis: AnalysisConfig,
  metric: MetricName,
  v4: boolean,
  v5 = false,
  v6 = false,
): MetricResult {
  const { s, c, base, nodata } = measure(window, analysis.minSamples, metric);
  if (nodata) return nodata;
  const delta = analysis.minEffect[metric];
  if (!(delta > 0)) {
    return { ...base, status: 'inconclusive', reason: `${metric}: no minimum effect configured` };
  }
  const split = alphaSplit(analysis, metric);
  const means = v5
    ? conversationMeanLlr(window, metric, delta, v6 ? MIN_PASS_CONVERSATIONS : MIN_MEAN_CONVERSATIONS)
    : undefined;
  // Judge v5: quality is judged on the conversations' mean scores, each conversation one unit (a
  // few long conversations no longer carry most of the scores); counted events keep judge v4's test.
  const cmp: Comparison =
    metric === 'quality_score' && means && means.n >= MIN_MEAN_CONVERSATIONS
      ? {
          llrAt: means.llrAt,
          detail: `quality: ${means.detail}, min effect -${fmt(delta)}`,
          unit: 'conversation',
        }
      : compare(window, metric, delta, v4);
  const failLlr = mixtureLlr(cmp.llrAt);
  const passLlr = cmp.llrAt(1);
  // Shown on the rollout's scale: fail when pValue <= analysis.alpha.
  const pValue = Math.min(1, Math.exp(-failLlr) * (analysis.alpha / split.comparison));

  // Absolute limits on outcomes read only requests older than the feedback horizon (settled.ts).
  const gw = guardWindow(window, analysis, metric);
  const gv = gw.kind === 'waiting' ? null : gw.kind === 'settled' ? measure(gw.window, 1, metric) : { s, c };
  const temper = v4 ? guardTemper(gw.kind === 'waiting' ? window : gw.window, metric, cmp) : 1;
  const worseThanStable = cmp.llrAt(1) > 0;
  const guards = absoluteRules(analysis.thresholds[metric]).map((g) => {
    const sign = g.kind === 'maxAbsolute' ? '<=' : '>=';
    const words = `${g.kind === 'maxAbsolute' ? 'max' : 'min'} ${valueText(metric, g.limit)}`;
    if (!gv || gw.kind === 'waiting') {
      // No outcome old enough yet: the limit neither fires nor counts as kept.
      return {
        ...g,
        llr: 0,
        bad: metric === 'quality_score' ? undefined : 0,
        failed: false,
        stableWithin: true,
        within: false,
        waiting: true,
        text: `guardrail ${sign} ${fmt(g.limit)} (waiting for feedback)`,
        words,
      };
    }
    const { s, c } = gv;
    const { llr, bad } = guardrailLlr(gw.window.canary, metric, g.kind, g.limit, delta);
    const stableWithin = !v4 || (g.kind === 'maxAbsolute' ? s.value <= g.limit : s.value >= g.limit);
    return {
      ...g,
      llr,
      bad,
      // An incident on both versions is not the canary's regression: a limit fails the canary only
      // while the stable keeps it over the same period and the canary is the worse of the two.
      failed:
        enoughBad(bad) &&
        stableWithin &&
        (worseThanStable || !v4) &&
        llr / (bad !== undefined ? temper : 1) >= Math.log(1 / split.guardrail),
      stableWithin,
      within: g.kind === 'maxAbsolute' ? c.value <= g.limit : c.value >= g.limit,
      waiting: false,
      text: `guardrail ${sign} ${fmt(g.limit)} (LR ${fmt(Math.exp(llr))})`,
      words,
    };
  });
  const failedGuard = guards.find((g) => g.failed);
  const values = againstStable(metric, c.value, s.value);
  // Where the limits read something else than the comparison, the verdict says what.
  const guardWords =
    guards.length === 0
      ? ''
      : gw.kind === 'waiting'
        ? `; limits: ${gw.reason}`
        : gw.kind === 'settled' && gv
          ? `; limits on ${gw.words}: ${againstStable(metric, gv.c.value, gv.s.value)}`
          : gw.kind === 'window' && gw.note
            ? `; ${gw.note}`
            : '';
  const evidence = `LR ${fmt(Math.exp(failLlr))}, p=${fmt(pValue)}; ${cmp.detail}${guardWords}`;
  const broken =
    metric === 'error_rate' && s.value >= BROKEN_STABLE_ERROR_RATE && c.value >= BROKEN_STABLE_ERROR_RATE;
  const stats = {
    llr: EFFECT_GRID.map((e) => clampLlr(cmp.llrAt(e.multiple))),
    ...(means ? { meanLlr: EFFECT_GRID.map((e) => clampLlr(means.llrAt(e.multiple))) } : {}),
    ...(cmp.canaryBad !== undefined ? { canaryBad: cmp.canaryBad } : {}),
    ...(guards.length > 0
      ? {
          guards: guards.map((g) => ({
            // Tempered as the window's test uses it, so the rollout adds like with like.
            llr: clampLlr(g.bad !== undefined ? g.llr / temper : g.llr),
            ...(g.bad !== undefined ? { bad: g.bad } : {}),
            within: g.within,
            ...(g.waiting ? { waiting: true } : {}),
          })),
        }
      : {}),
    ...(cmp.blocked || broken ? { blocked: true } : {}),
    detail: `${metric}: ${evidence}${failedGuard ? `; breaks ${failedGuard.text}` : ''}`,
    ...(cmp.unit ? { unit: cmp.unit } : {}),
    ...(cmp.inflation !== undefined ? { inflation: clampLlr(cmp.inflation) } : {}),
    ...(v4 && guards.length > 0 ? { stableBeyond: guards.map((g) => !g.stableWithin) } : {}),
    ...(v6 && guards.length > 0 ? settledSums(window, metric) : {}),
  };
  const out = { ...base, pValue, stats };
  // A request metric's limit broken on stable too is an upstream incident: hold. An outcome
  // metric's limit broken on stable measures how outcomes are reported (failures reported more
  // often than successes): the canary is judged against the stable alone.
  const stableOut = HOLD_ON_STABLE_BEYOND.has(metric) ? guards.find((g) => !g.stableWithin) : undefined;

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
    const on =
      gw.kind === 'settled' && gv
        ? ` on ${gw.words}: ${againstStable(metric, gv.c.value, gv.s.value)}`
        : `: ${values}`;
    return { ...out, status: 'fail', reason: `${metric}: beyond its limit (${failedGuard.words})${on}` };
  }
  if (cmp.blocked) {
    return { ...out, status: 'inconclusive', reason: `${metric}: ${cmp.blocked}` };
  }
  if (stableOut) {
    // The limit is broken on stable too (an upstream incident): hold whatever its size, say so.
    return {
      ...out,
      status: 'inconclusive',
      reason: `${metric}: stable is beyond the limit too (${stableOut.words}): ${values}: check the upstreams; holding`,
    };
  }
  if (passLlr <= Math.log(PASS_BETA)) {
    if (gw.kind === 'waiting' && guards.length > 0) {
      return { ...out, status: 'inconclusive', reason: `${metric}: ${gw.reason}: ${values}` };
    }
    const outside = guards.find((g) => !g.within && g.stableWithin);
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

/**
 * Judge v6: the values and samples an outcome limit read on requests older than the feedback
 * horizon, however few: the rollout adds the stages' reads (contiguous: each ends where the next
 * begins) so that a later stage does not wait for the horizon's minSamples all over again.
 */
function settledSums(window: MetricsWindow, metric: MetricName) {
  const settled = window.settled;
  if (!OUTCOME_METRICS.has(metric) || !settled || 'unavailable' in settled) return {};
  const of = (m: VersionMetrics) => {
    const v = metricValue(m, metric);
    return { sum: v.value === null ? 0 : v.value * v.samples, n: v.value === null ? 0 : v.samples };
  };
  return { settled: { canary: of(settled.canary), stable: of(settled.stable) } };
}

/**
 * `v4`: the rollout started under patch judge-v4 (docs/judge.md, "The unit"); `v5`: under judge-v5
 * too (the early stages may pass on the means of conversations' own rates, stats.meanLlr).
 */
export function judgeStatistical(
  window: MetricsWindow,
  analysis: AnalysisConfig,
  v4 = false,
  v5 = false,
  /** Judge v6: the rollout adds up the feedback horizon's reads; early passes on fewer conversations. */
  v6 = false,
): Verdict {
  const metrics = analysis.metrics.map((m) => judgeMetric(window, analysis, m, v4, v4 && v5, v4 && v5 && v6));
  return combineVerdict('statistical', metrics);
}

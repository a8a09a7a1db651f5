// Evidence about one canary carried across the stages of its rollout (policy rules 3).
//
// Each stage's judge sees only that stage's data (the metrics window starts when its split landed),
// and its verdict carries, per metric, the ln likelihood ratios of "worse by k x minEffect" against
// "no worse" (MetricResult.stats). The canary and the stable are the same two versions in every
// stage, so the rollout's evidence is the sum of the stages' ln LRs: a product of likelihood ratios,
// each a martingale under "no worse" given the stages before it, is itself one, so Ville's bound
// holds for the whole rollout with one alpha per metric (no split over stages). Summing per stage
// rather than pooling the counts is what "weighs" the change of weight between stages: in each
// stage a bad event is the canary's with that stage's share, so a baseline that drifts between
// stages (busier hours, a flaky upstream) cannot pass for a regression.
//
// The guarantee is graduated by stage: the early stages only have to rule out a large regression
// (4x, then 2x the minimum effect), the last stage before 100% must rule out the plan's minEffect
// itself. A canary worse than minEffect reaches 100% at most PASS_BETA of the time.
import type { AnalysisConfig, ResolvedPlan } from '../plan/schema';
import type { MetricName, MetricResult, Verdict } from './types';
import {
  COMPARISON_SHARE,
  EFFECT_GRID,
  HOLD_ON_STABLE_BEYOND,
  MIN_BAD_EVENTS,
  PASS_BETA,
  clampLlr,
} from './statistical';
import { combineVerdict } from './verdict';
import { fmt } from './values';
import { againstStable, effectText } from './words';

export interface MetricEvidence {
  /** Summed ln LR at each EFFECT_GRID multiple. */
  llr: number[];
  /** Judge v4: some stage's counted events were judged per request (no conversation counts). */
  perRequest?: boolean;
  /** Absent where bad events are not counted (the quality mean). */
  canaryBad?: number;
  guards: { llr: number; bad?: number }[];
  /** Judge v6: the stages' ln LRs on conversations' means, summed (early passes). */
  meanLlr?: number[];
  /** Judge v6: the stages' reads of requests older than the feedback horizon, summed (outcome limits). */
  settled?: { canary: { sum: number; n: number }; stable: { sum: number; n: number } };
  /**
   * Judge v6: the comparison has ruled out the stage's multiple at some check of this stage. A
   * sequential test's pass is its first crossing (Ville's bound under "worse" holds for "ever
   * crossed"): a later check whose statistic drifts back above the bound does not undo it.
   */
  passed?: true;
}

/**
 * Requests are not independent: a conversation sticks to one version and its errors come in
 * bursts (a failing tool, a retry loop). Bunched events make the binomial likelihood ratio
 * overconfident by about the variance inflation of the counts, which would break the false-rollback
 * bound (the benchmark's correlated-sessions model inflates the variance about 2x and rolled back
 * 7.5% of healthy canaries at 10 requests/s untempered). The rollout's ln LRs of counted events are
 * divided by this factor on the fail side (a quasi-likelihood): a false rollback needs that much
 * more evidence. The pass side is left untempered (see docs/judge.md for what that costs).
 */
export const DISPERSION = 2;

/**
 * Weights of the fail side's mixture over EFFECT_GRID's multiples (1, 2, 4, 8) for the rollout's
 * test, not the per-stage judge's 0.4/0.4/0.1/0.1: with the tempering above, a large regression
 * (4x the minimum effect, errors 1% -> 5%) would otherwise often need a third check at 100
 * requests/s, and small effects are the ones the later stages' long windows catch anyway.
 */
export const ROLLOUT_WEIGHTS: readonly number[] = [0.2, 0.2, 0.4, 0.2];

/** ln of the ROLLOUT_WEIGHTS mixture of exp(llr[i] / phi). */
function rolloutMixture(llr: number[], phi: number): number {
  const l = ROLLOUT_WEIGHTS.map((w, i) => Math.log(w) + (llr[i] ?? 0) / phi);
  const top = Math.max(...l);
  return top + Math.log(l.reduce((acc, x) => acc + Math.exp(x - top), 0));
}
export type Evidence = Partial<Record<MetricName, MetricEvidence>>;

/**
 * Alpha per metric for the whole rollout (the stages share one sequential test), 90/10 between the
 * comparison and the absolute guardrails when there are any.
 */
export function rolloutAlpha(analysis: AnalysisConfig, metric: MetricName) {
  const perMetric = analysis.alpha / analysis.metrics.length;
  const t = analysis.thresholds[metric];
  const guards = (t?.maxAbsolute !== undefined ? 1 : 0) + (t?.minAbsolute !== undefined ? 1 : 0);
  if (guards === 0) return { perMetric, comparison: perMetric, guardrail: 0 };
  return {
    perMetric,
    comparison: perMetric * COMPARISON_SHARE,
    guardrail: (perMetric * (1 - COMPARISON_SHARE)) / guards,
  };
}

/**
 * The regression a stage must rule out before it may pass, in multiples of minEffect: 1 in the last
 * observed stage before 100%, 2 in the one before, 4 earlier.
 */
export function passMultiple(plan: Pick<ResolvedPlan, 'stages'>, stageIndex: number): number {
  const later = plan.stages.filter((st, i) => i > stageIndex && st.weight < 100 && st.observeMs > 0).length;
  return later === 0 ? 1 : later === 1 ? 2 : 4;
}

const zero = (): MetricEvidence => ({ llr: EFFECT_GRID.map(() => 0), guards: [] });
const sum = (a: number | undefined, b: number | undefined) =>
  a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0);

function addTo(carried: MetricEvidence | undefined, r: MetricResult, v6 = false): MetricEvidence {
  // `passed` belongs to the stage that set it: never carried into the next one.
  const { passed: _stage, ...c } = carried ?? zero();
  void _stage;
  const st = r.stats;
  if (!st) return c;
  const perRequest = c.perRequest || st.unit === 'request';
  const meanLlr =
    v6 && (c.meanLlr || st.meanLlr)
      ? EFFECT_GRID.map((_, i) => clampLlr((c.meanLlr?.[i] ?? 0) + (st.meanLlr?.[i] ?? 0)))
      : undefined;
  const add = (a?: { sum: number; n: number }, b?: { sum: number; n: number }) => ({
    sum: (a?.sum ?? 0) + (b?.sum ?? 0),
    n: (a?.n ?? 0) + (b?.n ?? 0),
  });
  const settled =
    v6 && (c.settled || st.settled)
      ? {
          canary: add(c.settled?.canary, st.settled?.canary),
          stable: add(c.settled?.stable, st.settled?.stable),
        }
      : undefined;
  return {
    ...(meanLlr ? { meanLlr } : {}),
    ...(settled ? { settled } : {}),
    llr: EFFECT_GRID.map((_, i) => clampLlr((c.llr[i] ?? 0) + (st.llr[i] ?? 0))),
    ...(perRequest ? { perRequest } : {}),
    ...(sum(c.canaryBad, st.canaryBad) !== undefined ? { canaryBad: sum(c.canaryBad, st.canaryBad) } : {}),
    guards: (st.guards ?? []).map((g, i) => {
      const bad = sum(c.guards[i]?.bad, g.bad);
      return { llr: clampLlr((c.guards[i]?.llr ?? 0) + g.llr), ...(bad !== undefined ? { bad } : {}) };
    }),
  };
}

/**
 * The rollout's verdict at a check: this stage's verdict (statistical judge) with the evidence of
 * the stages before, judged against the rollout's alpha and this stage's pass multiple. Returns the
 * summed evidence too: the policy carries it into the next stage when this one ends.
 */
export function judgeAcrossStages(
  v: Verdict,
  carried: Evidence | undefined,
  analysis: AnalysisConfig,
  passAt: number,
  /** Judge v4 (patch judge-v4): conversations as the unit, incidents held; absent: rules 3 as they were. */
  v4?: boolean,
  /** Judge v5 (patch judge-v5): early stages may also pass on the means of conversations' own rates. */
  v5?: boolean,
  /** Judge v6: the stages' means and feedback-horizon reads summed (see judgeRolloutV4). */
  v6?: boolean,
  /** Judge v6: the evidence as of this stage's previous check (which metrics already passed in it). */
  latest?: Evidence,
): { verdict: Verdict; evidence: Evidence } {
  if (v4) {
    return judgeRolloutV4(v, carried, analysis, passAt, v5 === true, v5 === true && v6 === true, latest);
  }
  const evidence: Evidence = { ...carried };
  const passIndex = Math.max(
    0,
    EFFECT_GRID.findIndex((e) => e.multiple === passAt),
  );
  const metrics = v.metrics.map((r): MetricResult => {
    const before = carried?.[r.metric];
    if (!r.stats && !(r.status === 'nodata' && before)) return r;
    const total = addTo(before, r);
    evidence[r.metric] = total;
    if (r.stats?.blocked) return r;
    const split = rolloutAlpha(analysis, r.metric);
    // Counted events (errors, failed tasks, slow requests) come in bursts: temper their evidence.
    const phi = total.canaryBad !== undefined ? DISPERSION : 1;
    const llrAt = (i: number) => total.llr[i] ?? 0;
    const failLlr = rolloutMixture(total.llr, phi);
    const pValue = Math.min(1, Math.exp(-failLlr) * (analysis.alpha / split.comparison));
    const delta = analysis.minEffect[r.metric];
    const values = againstStable(r.metric, r.canary, r.stable);
    const detail =
      `${r.metric}: rollout so far LR ${fmt(Math.exp(failLlr))}, p=${fmt(pValue)}, ` +
      `${total.canaryBad ?? 'uncounted'} canary bad events; ruling out ${effectText(r.metric, passAt * delta)}` +
      (r.stats ? `; this stage: ${r.stats.detail.replace(`${r.metric}: `, '')}` : '');
    const stats = { ...(r.stats ?? { llr: [] }), detail };
    const out = { ...r, pValue, stats };
    if ((total.canaryBad ?? MIN_BAD_EVENTS) >= MIN_BAD_EVENTS && failLlr >= Math.log(1 / split.comparison)) {
      return { ...out, status: 'fail', reason: `${r.metric}: worse: ${values}` };
    }
    const guard = total.guards.findIndex(
      (g) =>
        (g.bad ?? MIN_BAD_EVENTS) >= MIN_BAD_EVENTS &&
        split.guardrail > 0 &&
        g.llr / (g.bad !== undefined ? DISPERSION : 1) >= Math.log(1 / split.guardrail),
    );
    if (guard >= 0) {
      return { ...out, status: 'fail', reason: `${r.metric}: beyond its absolute limit: ${values}` };
    }
    if (r.status === 'nodata') return { ...r, stats };
    const inside = (r.stats?.guards ?? []).every((g) => g.within);
    const ruledOut = effectText(r.metric, passAt * delta);
    return passOrNotYet(out, inside, llrAt(passIndex) <= Math.log(PASS_BETA), ruledOut, values, waitingOf(r));
  });
  // Fields beside the metrics (the evaluator's state) stay as the stage's verdict had them.
  return { verdict: { ...v, ...combineVerdict(v.judge, metrics) }, evidence };
}

/** A metric that did not fail: a pass once `ruledOut` is ruled out inside its limits, else not yet. */
function passOrNotYet(
  out: MetricResult,
  inside: boolean,
  ruledOutNow: boolean,
  ruledOut: string,
  values: string,
  /** An outcome limit has no request older than the feedback horizon yet (src/analysis/settled.ts). */
  waiting = false,
): MetricResult {
  if (inside && ruledOutNow && !waiting) {
    return { ...out, status: 'pass', reason: `${out.metric}: not worse by ${ruledOut}: ${values}` };
  }
  const why = waiting ? ' (waiting for feedback on older requests)' : inside ? '' : ' (outside its limit)';
  return {
    ...out,
    status: 'inconclusive',
    reason: `${out.metric}: not yet${why}: ${values}; ruling out ${ruledOut}`,
  };
}

const waitingOf = (r: MetricResult): boolean => (r.stats?.guards ?? []).some((g) => g.waiting === true);

/**
 * What the check activity returns beside the stage's verdict (CheckOutcome.rollout): the rollout's
 * verdict when the workflow asked for it (rules 3) and the judge is the statistical one, else null.
 */
export function rolloutVerdict(
  v: Verdict,
  ask: { carried?: Evidence; passAt: number; latest?: Evidence } | undefined,
  analysis: AnalysisConfig,
  judgeVersion: 4 | 5 | 6 | undefined,
): { verdict: Verdict; evidence: Evidence } | null {
  if (!ask || v.judge !== 'statistical') return null;
  return judgeAcrossStages(
    v,
    ask.carried,
    analysis,
    ask.passAt,
    judgeVersion !== undefined,
    judgeVersion !== undefined && judgeVersion >= 5,
    judgeVersion === 6,
    ask.latest,
  );
}

/**
 * Judge v4 (docs/judge.md, "The unit"): the stages' ln LRs are added as in rules 3, but
 * - counted events judged per conversation (stats.unit 'conversation') are exact Bernoulli draws
 *   and are not tempered; per request (a source without conversation counts) both sides, fail and
 *   pass, are tempered by DISPERSION, the assumption the verdict then states;
 * - an absolute guardrail fails the canary only while the stable keeps the limit and the rollout's
 *   evidence leans to the canary being worse; a limit broken on both versions (an upstream
 *   incident) holds the stage with "check the upstreams", whatever its size.
 */
function judgeRolloutV4(
  v: Verdict,
  carried: Evidence | undefined,
  analysis: AnalysisConfig,
  passAt: number,
  v5: boolean,
  v6 = false,
  latest?: Evidence,
): { verdict: Verdict; evidence: Evidence } {
  const evidence: Evidence = { ...carried };
  const passIndex = Math.max(
    0,
    EFFECT_GRID.findIndex((e) => e.multiple === passAt),
  );
  const metrics = v.metrics.map((r): MetricResult => {
    const before = carried?.[r.metric];
    if (!r.stats && !(r.status === 'nodata' && before)) return r;
    const total = addTo(before, r, v6);
    evidence[r.metric] = total;
    if (r.stats?.blocked) return r;
    const split = rolloutAlpha(analysis, r.metric);
    const phi = total.canaryBad !== undefined && total.perRequest ? DISPERSION : 1;
    const failLlr = rolloutMixture(total.llr, phi);
    const passLlr = (total.llr[passIndex] ?? 0) / phi;
    const pValue = Math.min(1, Math.exp(-failLlr) * (analysis.alpha / split.comparison));
    const delta = analysis.minEffect[r.metric];
    const values = againstStable(r.metric, r.canary, r.stable);
    const unit =
      total.canaryBad === undefined
        ? r.stats?.unit === 'conversation' && r.stats.inflation === undefined
          ? "judged on the conversations' mean scores, each conversation one unit"
          : r.stats?.inflation !== undefined
            ? `mean's design effect ${fmt(r.stats.inflation)}, allowed for`
            : 'scores taken as independent'
        : total.perRequest
          ? `judged per request (no conversation counts): assumes variance at most ${DISPERSION}x binomial, not measured`
          : `judged per conversation${r.stats?.inflation !== undefined ? `: per-request variance ${fmt(r.stats.inflation)}x binomial, allowed for` : ''}`;
    const detail =
      `${r.metric}: rollout so far LR ${fmt(Math.exp(failLlr))}, p=${fmt(pValue)}, ` +
      `${total.canaryBad ?? 'uncounted'} canary bad ${total.perRequest ? 'events' : 'conversations'}; ${unit}; ` +
      `ruling out ${effectText(r.metric, passAt * delta)}` +
      (r.stats ? `; this stage: ${r.stats.detail.replace(`${r.metric}: `, '')}` : '');
    const stats = { ...(r.stats ?? { llr: [] }), detail };
    const out = { ...r, pValue, stats };
    if ((total.canaryBad ?? MIN_BAD_EVENTS) >= MIN_BAD_EVENTS && failLlr >= Math.log(1 / split.comparison)) {
      return { ...out, status: 'fail', reason: `${r.metric}: worse: ${values}` };
    }
    const stableBeyond = (r.stats?.stableBeyond ?? []).some(Boolean);
    // "Worse than the stable over the same period" needs evidence, not a lean: where both versions
    // sit at the limit (outcomes reported unevenly), the canary's side of it is a coin toss.
    const leansWorse = failLlr >= Math.log(1 / PASS_BETA);
    // Only a judged window says whether the stable keeps the limit: a check with too few samples
    // (a new stage's first) does not fire the earlier stages' guardrail evidence on its own.
    const guard = total.guards.findIndex(
      (g) =>
        r.stats !== undefined &&
        !stableBeyond &&
        leansWorse &&
        (g.bad ?? MIN_BAD_EVENTS) >= MIN_BAD_EVENTS &&
        split.guardrail > 0 &&
        g.llr / (g.bad !== undefined && total.perRequest ? DISPERSION : 1) >= Math.log(1 / split.guardrail),
    );
    if (guard >= 0) {
      return { ...out, status: 'fail', reason: `${r.metric}: beyond its absolute limit: ${values}` };
    }
    if (r.status === 'nodata') return { ...r, stats };
    if (stableBeyond && HOLD_ON_STABLE_BEYOND.has(r.metric)) {
      return {
        ...out,
        status: 'inconclusive',
        reason: `${r.metric}: stable is beyond the limit too: ${values}: check the upstreams; holding`,
      };
    }
    // Outside a limit the stable breaks too counts as inside: judged against the stable alone.
    let inside = (r.stats?.guards ?? []).every((g, i) => g.within || r.stats?.stableBeyond?.[i]);
    let waiting = waitingOf(r);
    // Judge v6: outcome limits read the rollout's requests older than the horizon, every stage's
    // read added (they are contiguous), so a later stage does not wait for minSamples again.
    const settled = v6 && r.stats?.guards ? settledLimits(total, analysis, r.metric) : undefined;
    if (settled) ({ inside, waiting } = settled);
    const ruledOut = effectText(r.metric, passAt * delta);
    // Judge v5: a stage before the last may also pass when its own conversations' means rule out
    // the regression it must (one failing user is 1/N of them, not a burst of requests); judge v6
    // adds the earlier stages' means. The last stage before 100% keeps the rollout's test alone:
    // the promise about minEffect is decided there.
    const meanLlr = v6 ? total.meanLlr?.[passIndex] : r.stats?.meanLlr?.[passIndex];
    const byMeans = v5 && passAt > 1 && meanLlr !== undefined && meanLlr <= Math.log(PASS_BETA);
    // Judge v6: in a stage before the last, a pass once crossed stays crossed (see
    // MetricEvidence.passed). Not in the last: there the promise about minEffect is decided, and
    // the dispersion measured at each look makes "ever crossed" likelier than Ville's bound allows
    // (measured: a canary worse by minEffect promoted 15% of the time at 1 request/s, not 3%).
    const sticky = v6 && passAt > 1 && latest?.[r.metric]?.passed === true;
    const passed = passLlr <= Math.log(PASS_BETA) || byMeans || sticky;
    if (v6 && passAt > 1 && passed) evidence[r.metric] = { ...total, passed: true };
    return passOrNotYet(out, inside, passed, ruledOut, values, waiting);
  });
  // Fields beside the metrics (the evaluator's state) stay as the stage's verdict had them.
  return { verdict: { ...v, ...combineVerdict(v.judge, metrics) }, evidence };
}

/**
 * Judge v6: an outcome's absolute limits on the rollout's summed reads of requests older than the
 * feedback horizon: waiting until they hold minSamples on both versions, and inside when the
 * canary's value keeps each limit (or the stable breaks it too: judged against the stable alone).
 * Undefined when no stage's read was counted (a source without the horizon's read).
 */
function settledLimits(
  total: MetricEvidence,
  analysis: AnalysisConfig,
  metric: MetricName,
): { inside: boolean; waiting: boolean } | undefined {
  const s = total.settled;
  if (!s) return undefined;
  const t = analysis.thresholds[metric];
  const waiting = s.canary.n < analysis.minSamples || s.stable.n < analysis.minSamples;
  if (waiting) return { inside: false, waiting };
  const c = s.canary.sum / s.canary.n;
  const st = s.stable.sum / s.stable.n;
  const keepsMax = (v: number) => t?.maxAbsolute === undefined || v <= t.maxAbsolute;
  const keepsMin = (v: number) => t?.minAbsolute === undefined || v >= t.minAbsolute;
  return { inside: (keepsMax(c) || !keepsMax(st)) && (keepsMin(c) || !keepsMin(st)), waiting };
}

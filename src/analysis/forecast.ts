// Before a rollout starts (validate, start): per stage, what it must rule out before it may pass
// (policy rules 3: graduated by stage, evidence carried across stages) and how long a healthy canary
// needs for that at a given traffic, with a warning and a concrete fix where a stage cannot decide
// within its window. Wald's approximations on the judge's own statistics (predict.ts).
import { formatDuration } from '../plan/duration';
import type { ResolvedPlan } from '../plan/schema';
import { passMultiple } from './evidence';
import { DEFAULT_BASELINE, drifts, type Baseline } from './predict';
import { PASS_BETA } from './statistical';
import { OUTCOME_METRICS } from './settled';
import { settledHorizon } from '../metrics/settled';
import type { MetricName } from './types';
import { effectText } from './words';

export interface StageForecast {
  stageIndex: number;
  weight: number;
  observeMs: number;
  metrics: {
    metric: MetricName;
    /** The regression this stage rules out before it passes, in the plan's minEffect units. */
    rulesOut: number;
    rulesOutText: string;
    /** Expected time in this stage for a healthy canary to rule it out (evidence of earlier stages counted). */
    healthyMs: number;
    /**
     * What the data alone take, whatever the test: minSamples on the canary and, for an outcome with
     * an absolute limit, as many outcomes of requests older than the feedback horizon (judge v5).
     */
    dataMs: number;
  }[];
  /** The slowest metric's time, or the window when that is longer. */
  expectedMs: number;
}

/**
 * The gateway's online evaluator: quality_score and task_success_rate get a verdict only for the
 * sampled requests the budget lets through, so they accrue evidence at that rate, not at the traffic's.
 */
export interface EvaluatedRate {
  sample: number;
  maxPerMinute: number;
  maxTokensPerDay: number;
  /** Tokens one evaluator call takes (prompt and verdict); an estimate. */
  tokensPerCall: number;
}

/** Requests/s that get a verdict: the sampled share, capped by calls per minute and tokens per day. */
export function evaluatedPerSecond(rps: number, e: EvaluatedRate): number {
  return Math.min(rps * e.sample, e.maxPerMinute / 60, e.maxTokensPerDay / e.tokensPerCall / 86_400);
}

export interface Forecast {
  requestsPerSecond: number;
  /** Graded requests/s behind quality_score and task_success_rate, when an evaluator feeds them. */
  evaluatedPerSecond?: number;
  stages: StageForecast[];
  /** Expected time to promotion of a healthy canary (windows and extensions). */
  totalMs: number;
  progressDeadlineMs: number;
  warnings: string[];
}

/** Per-stage forecast at the given traffic. Statistical judge only (thresholds need no evidence). */
export function forecast(
  plan: ResolvedPlan,
  requestsPerSecond: number,
  baseline: Partial<Baseline> = {},
  evaluated?: EvaluatedRate,
): Forecast {
  const b: Baseline = { ...DEFAULT_BASELINE, ...baseline };
  const graded = evaluated ? evaluatedPerSecond(requestsPerSecond, evaluated) : undefined;
  // The evaluator's metrics accrue evidence only from graded requests.
  const rpsOf = (metric: MetricName) =>
    graded !== undefined && (metric === 'quality_score' || metric === 'task_success_rate')
      ? graded
      : requestsPerSecond;
  const a = plan.analysis;
  const need = Math.log(1 / PASS_BETA);
  const observed = plan.stages
    .map((st, i) => ({ ...st, i }))
    // A shadow stage serves no user from the canary: its pace is the evaluator's (docs/shadow.md).
    .filter((st) => st.weight < 100 && st.observeMs > 0 && st.shadow === undefined);
  // Per metric: the time each earlier stage lasted, to count its evidence at a later stage's multiple.
  const spent: { w: number; ms: number }[] = [];
  const stages: StageForecast[] = [];
  const warnings: string[] = [];
  let total = 0;
  const horizon = settledHorizon(a);
  let prevW = 0;
  for (const st of observed) {
    const w = st.weight / 100;
    const k = passMultiple(plan, st.i);
    const canaryPerMs = (requestsPerSecond * w) / 1000;
    const metrics = a.metrics.map((metric) => {
      const delta = k * a.minEffect[metric];
      const rate = (ww: number) => -drifts(metric, ww, delta, b).h0 * ((rpsOf(metric) * ww) / 1000);
      const carried = spent.reduce((sum, s) => sum + rate(s.w) * s.ms, 0);
      const here = rate(w);
      const tested = carried >= need ? 0 : here > 0 && canaryPerMs > 0 ? (need - carried) / here : Infinity;
      const dataMs = dataTime(metric, (rpsOf(metric) * w) / 1000, (rpsOf(metric) * prevW) / 1000);
      return {
        metric,
        rulesOut: delta,
        rulesOutText: effectText(metric, delta),
        healthyMs: tested,
        dataMs,
      };
    });
    const expectedMs = Math.max(st.observeMs, ...metrics.map((m) => Math.max(m.healthyMs, m.dataMs)));
    // Checks happen at the interval: round up to the next one.
    const rounded = Number.isFinite(expectedMs)
      ? Math.ceil(expectedMs / a.intervalMs) * a.intervalMs
      : expectedMs;
    stages.push({
      stageIndex: st.i,
      weight: st.weight,
      observeMs: st.observeMs,
      metrics,
      expectedMs: rounded,
    });
    total += rounded;
    spent.push({ w, ms: rounded });
    prevW = w;
    // Warned about: what the test needs (a larger minEffect or weight helps); the data's own wait
    // (minSamples, the feedback horizon) shows in the table and the total.
    const slowest = metrics.reduce((m, x) => (x.healthyMs > m.healthyMs ? x : m));
    if (slowest.healthyMs > st.observeMs) {
      const needs = Number.isFinite(slowest.healthyMs)
        ? formatDuration(roundUp(slowest.healthyMs))
        : 'forever';
      const raise = minEffectFor(plan, metric0(slowest.metric), st.observeMs, w, rpsOf(slowest.metric), b, k);
      const fixes = [
        Number.isFinite(slowest.healthyMs) ? `lengthen its observe to ${needs}` : null,
        raise ? `raise analysis.minEffect.${slowest.metric} to ${raise}` : null,
        st.weight < 50 ? `raise its weight` : null,
        graded !== undefined && rpsOf(slowest.metric) === graded
          ? 'evaluate more requests (sample, budget)'
          : null,
      ].filter((x): x is string => x !== null);
      const at =
        graded !== undefined && rpsOf(slowest.metric) === graded
          ? `${requestsPerSecond} request${requestsPerSecond === 1 ? '' : 's'}/s with ${fmtRate(graded)} graded/s`
          : `${requestsPerSecond} request${requestsPerSecond === 1 ? '' : 's'}/s`;
      warnings.push(
        `stage ${st.i + 1} cannot rule out ${slowest.rulesOutText} in ${formatDuration(st.observeMs)} at ${at} (a healthy canary needs ~${needs}): ${fixes.join(', or ')}`,
      );
    }
  }
  /**
   * The time the canary's data take to be judged at all, at `perMs` samples a millisecond in this
   * stage and `prevPerMs` in the one before: minSamples, and for an outcome with an absolute limit
   * minSamples outcomes of requests older than the horizon, whose read begins a horizon before the
   * stage (so partly at the previous stage's weight). Each stage waits again under judge v5.
   */
  function dataTime(metric: MetricName, perMs: number, prevPerMs: number): number {
    if (!(perMs > 0)) return Infinity;
    const samples = a.minSamples / perMs;
    const t = a.thresholds[metric];
    const limited = t?.maxAbsolute !== undefined || t?.minAbsolute !== undefined;
    if (horizon === undefined || !OUTCOME_METRICS.has(metric) || !limited) return samples;
    const before = prevPerMs * horizon;
    const wait =
      a.minSamples <= before ? a.minSamples / prevPerMs : horizon + (a.minSamples - before) / perMs;
    return Math.max(samples, wait);
  }
  if (total > plan.progressDeadlineMs) {
    warnings.push(
      `a healthy canary needs ~${Number.isFinite(total) ? formatDuration(roundUp(total)) : 'forever'} in all, over the progress deadline of ${formatDuration(plan.progressDeadlineMs)}: it would be withdrawn undecided; fix the stages above or raise progressDeadline`,
    );
  }
  return {
    requestsPerSecond,
    ...(graded !== undefined ? { evaluatedPerSecond: graded } : {}),
    stages,
    totalMs: total,
    progressDeadlineMs: plan.progressDeadlineMs,
    warnings,
  };
}

const fmtRate = (r: number) => String(Number(r.toPrecision(2)));

const metric0 = (m: MetricName) => m;
/** Minutes, rounded up to 5 past the first hour. */
const roundUp = (ms: number) => {
  const step = ms > 3_600_000 ? 300_000 : 60_000;
  return Math.ceil(ms / step) * step;
};

/** The smallest minEffect (2 significant digits) with which the stage decides in its window, if any. */
function minEffectFor(
  plan: ResolvedPlan,
  metric: MetricName,
  observeMs: number,
  w: number,
  rps: number,
  b: Baseline,
  k: number,
): string | null {
  const need = Math.log(1 / PASS_BETA);
  let delta = plan.analysis.minEffect[metric];
  for (let i = 0; i < 40; i++) {
    delta *= 1.25;
    const bounded = metric === 'error_rate' || metric === 'task_success_rate' ? k * delta < 1 : true;
    if (!bounded) return null;
    const rate = -drifts(metric, w, k * delta, b).h0 * ((rps * w) / 1000);
    if (rate * observeMs >= need) return String(Number(delta.toPrecision(2)));
  }
  return null;
}

/** Aligned text for validate and start. */
export function renderForecast(f: Forecast): string[] {
  const rps = f.requestsPerSecond;
  const lines = [
    '',
    `  at ${rps} request${rps === 1 ? '' : 's'}/s, what each stage must rule out before it passes, and how long a healthy canary needs:`,
    `    ${'stage'.padEnd(7)}${'canary'.padEnd(8)}${'window'.padEnd(9)}${'metric'.padEnd(19)}${'rules out'.padEnd(32)}healthy canary needs`,
  ];
  if (f.evaluatedPerSecond !== undefined) {
    lines.splice(
      2,
      0,
      `  quality_score and task_success_rate from the evaluator: ${fmtRate(f.evaluatedPerSecond)} graded requests/s (sample and budget)`,
    );
  }
  for (const st of f.stages) {
    st.metrics.forEach((m, i) => {
      const head =
        i === 0
          ? `${String(st.stageIndex + 1).padEnd(7)}${`${st.weight}%`.padEnd(8)}${formatDuration(st.observeMs).padEnd(9)}`
          : ' '.repeat(24);
      // The data's own wait (minSamples, feedback older than the horizon) when it is the longer.
      const ms = Math.max(m.healthyMs, m.dataMs);
      const waits = m.dataMs > m.healthyMs && m.dataMs > st.observeMs ? ', waiting for data' : '';
      const needs = Number.isFinite(ms)
        ? ms === 0
          ? 'already shown'
          : `~${formatDuration(roundUp(ms))}${ms > st.observeMs ? ` (longer than the window${waits})` : ''}`
        : 'never';
      lines.push(`    ${head}${m.metric.padEnd(19)}${m.rulesOutText.padEnd(32)}${needs}`);
    });
  }
  lines.push(
    `  a healthy canary: promoted after ~${Number.isFinite(f.totalMs) ? formatDuration(roundUp(f.totalMs)) : 'never'} (deadline ${formatDuration(f.progressDeadlineMs)}); a regression fails sooner the larger it is`,
  );
  for (const w of f.warnings) lines.push(`  warning: ${w}`);
  return lines;
}

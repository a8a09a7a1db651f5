// Seeded simulation of canary rollouts for comparing judges. Traffic is drawn per check interval as
// counts (Poisson requests, binomial split and errors, multinomial histograms), not per request, so
// hundreds of rollouts at 100 requests/s run in seconds.
import { judgeStatistical, judgeThresholds } from '../src/analysis';
import type { Verdict } from '../src/analysis/types';
import type { Histogram, MetricsWindow, VersionMetrics } from '../src/metrics/types';
import { DEFAULT_FAILURE_LIMIT, resolvePlan, type AnalysisConfig, type ResolvedPlan } from '../src/plan';
import { histogramQuantile } from '../src/analysis/values';
import { rolloutVerdict } from '../src/analysis/evidence';
import { settledHorizon } from '../src/metrics/settled';
import {
  initialState,
  percentOf,
  step,
  type Effect,
  type PolicyEvent,
  type PolicyState,
} from '../workflows/policy';

// ---- randomness --------------------------------------------------------------------------------

export { seededRandom as mulberry32 } from '../src/demo/random';
import { seededRandom as mulberry32 } from '../src/demo/random';

export class Rng {
  private readonly next: () => number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  uniform(): number {
    return this.next();
  }
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  /** Exact inversion while the mean is small, normal approximation beyond (error far below the noise). */
  binomial(n: number, p: number): number {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    if (p > 0.5) return n - this.binomial(n, 1 - p);
    const mean = n * p;
    if (mean < 60) {
      const u = this.next();
      const odds = p / (1 - p);
      let prob = Math.exp(n * Math.log1p(-p));
      let cum = prob;
      let k = 0;
      while (u > cum && k < n) {
        prob *= ((n - k) / (k + 1)) * odds;
        k++;
        cum += prob;
        if (prob < 1e-300 && k > mean) break;
      }
      return k;
    }
    const x = Math.round(mean + Math.sqrt(mean * (1 - p)) * this.normal());
    return Math.min(n, Math.max(0, x));
  }
  poisson(lambda: number): number {
    if (lambda < 60) {
      const l = Math.exp(-lambda);
      let k = 0;
      let prod = this.next();
      while (prod > l) {
        k++;
        prod *= this.next();
      }
      return k;
    }
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
  }
  /** Multinomial by sequential conditional binomials; adds the counts into `into`. */
  multinomial(n: number, probs: Float64Array, into: Float64Array): void {
    let restN = n;
    let restP = 1;
    for (let k = 0; k < probs.length && restN > 0; k++) {
      const p = probs[k];
      const c = k === probs.length - 1 ? restN : this.binomial(restN, Math.min(1, p / restP));
      into[k] += c;
      restN -= c;
      restP -= p;
      if (restP <= 0) restP = 1e-12;
    }
  }
}

// ---- traffic model -----------------------------------------------------------------------------

export function normalCdf(x: number): number {
  // Abramowitz & Stegun 7.1.26 via erf; 1.5e-7 absolute error, ample for bucket probabilities.
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-z * z);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

/** Latency bucket upper bounds: one bucket up to 100 ms, then 5% steps to 20 s (HDR-like). */
export const LATENCY_BOUNDS: number[] = (() => {
  const b = [100];
  while (b[b.length - 1] < 20_000) b.push(Math.round(b[b.length - 1] * 1.05 * 100) / 100);
  return b;
})();
/** Quality scores in [0,1], 0.02 buckets (the value is the bucket centre). */
export const QUALITY_VALUES: number[] = Array.from({ length: 51 }, (_, i) => i / 50);

const LATENCY_MEDIAN_MS = 300;
const LATENCY_SIGMA = 0.5;
const QUALITY_MEAN = 0.8;
const QUALITY_SD = 0.12;

export interface VersionModel {
  errorRate: number;
  taskSuccessRate: number;
  /** Every latency times this (1.5 = p99 +50%). */
  latencyFactor: number;
  /** Every quality score times this (0.9 = -10%). */
  qualityFactor: number;
}

export const HEALTHY: VersionModel = {
  errorRate: 0.01,
  taskSuccessRate: 0.95,
  latencyFactor: 1,
  qualityFactor: 1,
};

function latencyProbs(factor: number): Float64Array {
  const mu = Math.log(LATENCY_MEDIAN_MS * factor);
  const p = new Float64Array(LATENCY_BOUNDS.length);
  let prev = 0;
  LATENCY_BOUNDS.forEach((ub, i) => {
    const cdf = i === LATENCY_BOUNDS.length - 1 ? 1 : normalCdf((Math.log(ub) - mu) / LATENCY_SIGMA);
    p[i] = Math.max(0, cdf - prev);
    prev = cdf;
  });
  return p;
}

function qualityProbs(factor: number): Float64Array {
  const mean = QUALITY_MEAN * factor;
  const sd = QUALITY_SD * factor;
  const p = new Float64Array(QUALITY_VALUES.length);
  let prev = 0;
  QUALITY_VALUES.forEach((v, i) => {
    const cdf = i === QUALITY_VALUES.length - 1 ? 1 : normalCdf((v + 0.01 - mean) / sd);
    p[i] = Math.max(0, cdf - prev);
    prev = cdf;
  });
  return p;
}

/** Expected (rounded) latency histogram of n requests of a model: a fixed, realistic test input. */
export function expectedLatencyHistogram(n: number, latencyFactor: number): Histogram {
  const out: Histogram = [];
  latencyProbs(latencyFactor).forEach((p, i) => {
    const c = Math.round(p * n);
    if (c > 0) out.push([LATENCY_BOUNDS[i], c]);
  });
  return out;
}

/** Exact moments and tail of a model, for the theoretical SPRT references. */
export function modelFacts(m: VersionModel) {
  const q = qualityProbs(m.qualityFactor);
  let mean = 0;
  let sq = 0;
  q.forEach((p, i) => {
    mean += p * QUALITY_VALUES[i];
    sq += p * QUALITY_VALUES[i] ** 2;
  });
  return {
    qualityMean: mean,
    qualitySd: Math.sqrt(sq - mean * mean),
    /** P(latency > t) for this model. */
    latencyAbove: (t: number) =>
      1 - normalCdf((Math.log(t) - Math.log(LATENCY_MEDIAN_MS * m.latencyFactor)) / LATENCY_SIGMA),
    latencyP99: LATENCY_MEDIAN_MS * m.latencyFactor * Math.exp(2.3263478740408408 * LATENCY_SIGMA),
  };
}

/**
 * Correlated sessions: conversations of several requests, sticky to one version (the gateway hashes
 * x-session-id), and errors in bursts: a conversation that hits a bad path (a tool timing out, a
 * retry loop) fails many of its requests. Same mean error rate as the independent model.
 */
export const SESSIONS = {
  /** Mean requests per conversation (geometric). */
  meanLength: 8,
  /** Share of conversations in trouble, and their per-request error rate. */
  troubled: 0.05,
  troubledErrorRate: 0.12,
} as const;

class Generator {
  private readonly lat: Float64Array;
  private readonly qual: Float64Array;
  constructor(
    readonly model: VersionModel,
    private readonly sessions = false,
  ) {
    this.lat = latencyProbs(model.latencyFactor);
    this.qual = qualityProbs(model.qualityFactor);
  }
  /** Errors among n requests: independent, or bunched in troubled conversations. */
  private errors(rng: Rng, n: number): number {
    if (!this.sessions) return rng.binomial(n, this.model.errorRate);
    // A worse version has proportionally more trouble; the rest of its errors are spread evenly.
    const scale = this.model.errorRate / HEALTHY.errorRate;
    const hot = Math.min(1, SESSIONS.troubledErrorRate * scale);
    const p = 1 / SESSIONS.meanLength;
    let inTrouble = 0;
    const conversations = rng.poisson((n / SESSIONS.meanLength) * SESSIONS.troubled);
    for (let i = 0; i < conversations; i++) {
      inTrouble += 1 + Math.floor(Math.log(1 - rng.uniform()) / Math.log(1 - p));
    }
    inTrouble = Math.min(n, inTrouble);
    const spread = Math.max(0, this.model.errorRate - SESSIONS.troubled * hot) / (1 - SESSIONS.troubled);
    return rng.binomial(inTrouble, hot) + rng.binomial(n - inTrouble, Math.min(1, spread));
  }
  draw(rng: Rng, n: number, into: Acc): void {
    into.requests += n;
    into.errors += this.errors(rng, n);
    into.successes += rng.binomial(n, this.model.taskSuccessRate);
    rng.multinomial(n, this.lat, into.latency);
    rng.multinomial(n, this.qual, into.quality);
  }
}

/** Counts of one version over a range of intervals. */
export class Acc {
  requests = 0;
  errors = 0;
  successes = 0;
  latency = new Float64Array(LATENCY_BOUNDS.length);
  quality = new Float64Array(QUALITY_VALUES.length);

  toMetrics(version: string): VersionMetrics {
    const lh: Histogram = [];
    this.latency.forEach((c, i) => c > 0 && lh.push([LATENCY_BOUNDS[i], c]));
    const qh: Histogram = [];
    let qsum = 0;
    this.quality.forEach((c, i) => {
      if (c > 0) {
        qh.push([QUALITY_VALUES[i], c]);
        qsum += c * QUALITY_VALUES[i];
      }
    });
    return {
      version,
      requests: this.requests,
      errors: this.errors,
      latencyMs: {
        count: this.requests,
        p50: histogramQuantile(lh, 0.5),
        p99: histogramQuantile(lh, 0.99),
        histogram: lh,
      },
      taskSuccess: { successes: this.successes, total: this.requests },
      quality: { count: this.requests, sum: qsum, histogram: qh },
    };
  }
}

function windowOf(stable: Acc, canary: Acc): MetricsWindow {
  return {
    agent: 'sim',
    since: 0,
    until: 0,
    stable: stable.toMetrics('stable'),
    canary: canary.toMetrics('canary'),
  };
}

// ---- judges and the rollout loop ---------------------------------------------------------------

export type JudgeKind = 'original' | 'flagger' | 'ours' | 'ours_fl3';

export const JUDGE_LABELS: Record<JudgeKind, string> = {
  original: 'original (thresholds at window end)',
  flagger: 'flagger-style (thresholds every 1m, N failed)',
  ours: 'ours (statistical, default failureLimit 1)',
  ours_fl3: 'ours (statistical, failureLimit 3)',
};

export interface Outcome {
  result: 'promoted' | 'rolled_back' | 'paused';
  /** Minutes from the rollout's start to its end (rollback, promotion, or the give-up of a pause). */
  minutes: number;
  /** Canary requests served from the rollout's start to that point. */
  canaryRequests: number;
  /** Stage index (0-based) the rollout ended in. */
  stage: number;
  /** Rolled back without a failed check: the deadline left no room to decide (not evidence of harm). */
  undecided?: boolean;
  /** Checks from the rollout's start to its end. */
  checks?: number;
  /** Why it ended (the policy's result reason). */
  reason?: string;
}

/** Traffic drawn by someone else (bench/traffic-sim.ts: conversations) for the policy simulation. */
export interface TrafficSource {
  /** Serves [now, now + ms) at the canary's weight `percent`. */
  serve(ms: number, percent: number, now: number): void;
  /**
   * Both versions' counts since the stage began; with a feedback horizon, also those of requests
   * older than it (MetricsWindow.settled), as the check's second read.
   */
  window(now?: number, horizonMs?: number): MetricsWindow;
  /** A new stage's split landed at `now`: the window starts again. */
  newStage(now: number): void;
  canaryRequests: number;
}

export interface SimOptions {
  judge: JudgeKind;
  stable: VersionModel;
  canary: VersionModel;
  requestsPerSecond: number;
  seed: number;
  plan?: ResolvedPlan;
  /** Minutes a paused rollout keeps being checked before the simulation gives up on it. */
  pausedPatienceMin?: number;
  /** Correlated sessions (sticky conversations, errors in bursts) instead of independent requests. */
  sessions?: boolean;
  /** Policy rules the rollout starts with: 3 (judge-v3, the default) or the rules before it. */
  rules?: 3 | 'v2';
  /** Judge v4 (conversations as the unit, incidents held): the default since the patch judge-v4. */
  v4?: boolean;
  /** Judge v5 (early stages may pass on conversations' means): the default since the patch judge-v5. */
  v5?: boolean;
  /**
   * Judge v6 (the stages' feedback-horizon reads and conversations' means summed, early passes on
   * fewer conversations): the default here and in rollouts since code version 10; false for judge v5 (--v5).
   */
  v6?: boolean;
  /** Traffic from elsewhere (conversations); the Generators above when absent. */
  source?: (rng: Rng) => TrafficSource;
  /** Called with every check's rollout verdict (tracing a rollout: bench/judge-trace.ts). */
  onCheck?: (at: number, stageIndex: number, verdict: Verdict) => void;
}

export const DEFAULT_PLAN: ResolvedPlan = resolvePlan({ agent: 'sim', stable: 'v1', canary: 'v2' });
export const THRESHOLDS_FAILURE_LIMIT = DEFAULT_FAILURE_LIMIT.thresholds;

/**
 * One rollout. "ours" is the shipped policy itself (workflows/policy `step`), driven with
 * simulated time and traffic, a router that applies every write at once and the judge run on the
 * data since the stage began. "original" checks once at each window's end and reads no data as
 * healthy; "flagger" checks each interval's own data, counts failed or empty checks over the whole
 * run and rolls back at failureLimit.
 */
export function simulateRollout(o: SimOptions): Outcome {
  if (o.judge === 'ours' || o.judge === 'ours_fl3') return simulatePolicy(o);
  return simulateBaseline(o);
}

/** The shipped policy, event by event, as the workflow would run it against an instant router. */
function simulatePolicy(o: SimOptions): Outcome {
  const base = o.plan ?? DEFAULT_PLAN;
  const plan: ResolvedPlan = {
    ...base,
    analysis: {
      ...base.analysis,
      judge: 'statistical',
      failureLimit: o.judge === 'ours_fl3' ? 3 : base.analysis.failureLimit,
    },
  };
  const rng = new Rng(o.seed);
  const stableGen = new Generator(o.stable, o.sessions);
  const canaryGen = new Generator(o.canary, o.sessions);
  const patienceMs = (o.pausedPatienceMin ?? 120) * 60_000;
  let now = 0;
  let checks = 0;
  let s: PolicyState = initialState(now, o.rules === 'v2' ? undefined : 3);
  if (o.v4 !== false && s.rules === 3) s.judgeV4 = true;
  if (o.v5 !== false && s.judgeV4) s.judgeV5 = true;
  const source = o.source?.(rng);
  let stable = new Acc();
  let canary = new Acc();
  let stageStartedAt = s.stageStartedAt;
  let canaryTotal = 0;
  let pausedAt: number | null = null;
  let wakeAt: number | null = null;
  const pending: PolicyEvent[] = [{ type: 'start' }];
  const stagesBelow100 = plan.stages.filter((st) => st.weight < 100).length;
  const outcome = (result: Outcome['result']): Outcome => ({
    result,
    minutes: now / 60_000,
    canaryRequests: source ? source.canaryRequests : canaryTotal,
    stage: result === 'promoted' ? stagesBelow100 : s.stageIndex,
    checks,
    ...(s.result?.reason
      ? {
          reason:
            s.result.reason +
            (process.env.JUDGE_SIM_REASONS === 'detail'
              ? ` || ${(s.lastAnalysis?.metrics ?? []).map((m) => m.stats?.detail).join(' || ')}`
              : ''),
        }
      : {}),
    ...(result === 'rolled_back' && !s.result?.reason.startsWith('canary unhealthy')
      ? { undecided: true }
      : {}),
  });
  /** Traffic for the time that passed, split by the share the router was last told. */
  const serve = (ms: number) => {
    if (source) return source.serve(ms, percentOf(s), now);
    const n = rng.poisson((o.requestsPerSecond * ms) / 1000);
    const nc = rng.binomial(n, percentOf(s) / 100);
    canaryGen.draw(rng, nc, canary);
    stableGen.draw(rng, n - nc, stable);
    canaryTotal += nc;
  };
  const carryOut = (e: Effect) => {
    if (e.type === 'write') pending.push({ type: 'write_done', opId: e.opId });
    if (e.type === 'check') {
      checks++;
      const verdict = judgeStatistical(
        source ? source.window(now, settledHorizon(plan.analysis)) : windowOf(stable, canary),
        plan.analysis,
        s.judgeV4 === true,
        s.judgeV5 === true,
        s.judgeV5 === true && o.v6 !== false,
      );
      // As the check activity does: the rollout's verdict beside the stage's, when the policy asks.
      // Judge v6 needs the stage's latest evidence beside the carried one (which metrics passed in
      // this stage already): what the policy would hand the check under a judge-v6 patch.
      const ask = e.rollout && o.v6 !== false && s.judgeV5 ? { ...e.rollout, latest: s.evidence } : e.rollout;
      const rollout = rolloutVerdict(
        verdict,
        ask,
        plan.analysis,
        s.judgeV4 ? (s.judgeV5 ? (o.v6 !== false ? 6 : 5) : 4) : undefined,
      );
      o.onCheck?.(now, s.stageIndex, rollout?.verdict ?? verdict);
      pending.push({ type: 'check_done', opId: e.opId, outcome: { metrics: 'ok', verdict, rollout } });
    }
  };
  for (let guard = 0; guard < 1_000_000; guard++) {
    const event = pending.shift();
    if (event) {
      const r = step(s, plan, event, now);
      s = r.state;
      wakeAt = r.wakeAt;
      if (s.stageStartedAt !== stageStartedAt) {
        // A new stage's split landed: the judge reads data since then, as the metrics source would.
        stageStartedAt = s.stageStartedAt;
        stable = new Acc();
        canary = new Acc();
        source?.newStage(now);
      }
      for (const e of r.effects) carryOut(e);
      if (s.result) return outcome(s.result.state === 'promoted' ? 'promoted' : 'rolled_back');
      if (s.state === 'paused' && pausedAt === null) pausedAt = now;
      if (s.state !== 'paused') pausedAt = null;
      continue;
    }
    if (pausedAt !== null && now - pausedAt >= patienceMs) return outcome('paused');
    if (wakeAt === null) throw new Error('simulation: the policy waits on nothing');
    serve(wakeAt - now);
    now = wakeAt;
    pending.push({ type: 'tick' });
  }
  throw new Error('simulation: no end after a million events');
}

function simulateBaseline(o: SimOptions): Outcome {
  const plan = o.plan ?? DEFAULT_PLAN;
  const rng = new Rng(o.seed);
  const stableGen = new Generator(o.stable);
  const canaryGen = new Generator(o.canary);
  const intervalMin = plan.analysis.intervalMs / 60_000;
  const perInterval = o.requestsPerSecond * (plan.analysis.intervalMs / 1000);
  // The thresholds judge's own default failureLimit (the plan's default is the statistical one's).
  const analysis: AnalysisConfig = {
    ...plan.analysis,
    judge: 'thresholds',
    minSamples: 1,
    failureLimit: THRESHOLDS_FAILURE_LIMIT,
  };
  const judgeFn: (w: MetricsWindow, a: AnalysisConfig) => Verdict = judgeThresholds;

  let minutes = 0;
  let canaryTotal = 0;
  let runFailures = 0;
  const stages = plan.stages.filter((s) => s.weight < 100);
  for (let si = 0; si < stages.length; si++) {
    const w = stages[si].weight / 100;
    const windowIntervals = Math.ceil(stages[si].observeMs / plan.analysis.intervalMs);
    const stable = new Acc();
    const canary = new Acc();
    for (let k = 1; ; k++) {
      const n = rng.poisson(perInterval);
      const nc = rng.binomial(n, w);
      const ic = new Acc();
      const is = new Acc();
      canaryGen.draw(rng, nc, ic);
      stableGen.draw(rng, n - nc, is);
      addInto(canary, ic);
      addInto(stable, is);
      minutes += intervalMin;
      canaryTotal += nc;
      const windowDone = k >= windowIntervals;
      const end = (result: Outcome['result']): Outcome => ({
        result,
        minutes,
        canaryRequests: canaryTotal,
        stage: si,
      });

      if (o.judge === 'original') {
        if (!windowDone) continue;
        if (judgeFn(windowOf(stable, canary), analysis).verdict === 'fail') return end('rolled_back');
        break;
      }
      // flagger
      if (judgeFn(windowOf(is, ic), analysis).verdict !== 'pass') runFailures++;
      if (runFailures >= analysis.failureLimit) return end('rolled_back');
      if (windowDone) break;
    }
  }
  return { result: 'promoted', minutes, canaryRequests: canaryTotal, stage: stages.length };
}

function addInto(to: Acc, from: Acc): void {
  to.requests += from.requests;
  to.errors += from.errors;
  to.successes += from.successes;
  for (let i = 0; i < to.latency.length; i++) to.latency[i] += from.latency[i];
  for (let i = 0; i < to.quality.length; i++) to.quality[i] += from.quality[i];
}

// ---- scenarios and summaries -------------------------------------------------------------------

export interface Scenario {
  id: string;
  label: string;
  canary: VersionModel;
}

export const SCENARIOS: Scenario[] = [
  { id: 'aa', label: 'A/A (no difference)', canary: HEALTHY },
  { id: 'err_1_2', label: 'errors 1% -> 2%', canary: { ...HEALTHY, errorRate: 0.02 } },
  { id: 'err_1_5', label: 'errors 1% -> 5%', canary: { ...HEALTHY, errorRate: 0.05 } },
  { id: 'p99_150', label: 'p99 latency +50%', canary: { ...HEALTHY, latencyFactor: 1.5 } },
  { id: 'quality_90', label: 'quality score -10%', canary: { ...HEALTHY, qualityFactor: 0.9 } },
  { id: 'task_95_85', label: 'task success 95% -> 85%', canary: { ...HEALTHY, taskSuccessRate: 0.85 } },
];

export interface Summary {
  runs: number;
  rolledBack: number;
  promoted: number;
  paused: number;
  /** Rolled back while still in the first stage. */
  stage1RolledBack: number;
  /** Rolled back without a failed check (no room left to decide). */
  undecided: number;
  p90Checks: number | null;
  maxChecks: number | null;
  medianRequests: number | null;
  p90Requests: number | null;
  medianMinutes: number | null;
  p90Minutes: number | null;
  medianRolloutMinutes: number;
}

function quantile(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

export function summarize(outcomes: Outcome[]): Summary {
  const rb = outcomes.filter((o) => o.result === 'rolled_back');
  const requests = rb.map((o) => o.canaryRequests);
  const minutes = rb.map((o) => o.minutes);
  return {
    runs: outcomes.length,
    rolledBack: rb.length,
    promoted: outcomes.filter((o) => o.result === 'promoted').length,
    paused: outcomes.filter((o) => o.result === 'paused').length,
    stage1RolledBack: rb.filter((o) => o.stage === 0).length,
    undecided: rb.filter((o) => o.undecided).length,
    p90Checks: quantile(
      rb.map((o) => o.checks ?? 0),
      0.9,
    ),
    maxChecks: quantile(
      rb.map((o) => o.checks ?? 0),
      1,
    ),
    medianRequests: quantile(requests, 0.5),
    p90Requests: quantile(requests, 0.9),
    medianMinutes: quantile(minutes, 0.5),
    p90Minutes: quantile(minutes, 0.9),
    medianRolloutMinutes: quantile(
      outcomes.map((o) => o.minutes),
      0.5,
    )!,
  };
}

/** Seed of one rollout: the same for every judge, so judges see the same random stream. */
export function seedOf(base: number, scenario: number, rps: number, run: number): number {
  return (
    (base ^
      Math.imul(scenario + 1, 0x9e3779b1) ^
      Math.imul(rps, 0x85ebca6b) ^
      Math.imul(run + 1, 0xc2b2ae35)) >>>
    0
  );
}

export function runScenario(
  judge: JudgeKind,
  scenarioIndex: number,
  rps: number,
  runs: number,
  baseSeed = 42,
  sessions = false,
) {
  const sc = SCENARIOS[scenarioIndex];
  const outcomes: Outcome[] = [];
  for (let r = 0; r < runs; r++) {
    outcomes.push(
      simulateRollout({
        judge,
        stable: HEALTHY,
        canary: sc.canary,
        requestsPerSecond: rps,
        seed: seedOf(baseSeed + (sessions ? 1_000_003 : 0), scenarioIndex, Math.round(rps * 10), r),
        sessions,
      }),
    );
  }
  return summarize(outcomes);
}

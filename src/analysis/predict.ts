// Before a rollout starts: how many canary requests, and how long, each stage needs for the
// statistical judge to catch a regression of the plan's minimum effect, or to pass a healthy canary.
// Wald's approximations of the SPRT's expected sample size, on the same statistics the judge uses.
import type { AnalysisConfig } from '../plan/schema';
import { DISPERSION, ROLLOUT_WEIGHTS, rolloutAlpha } from './evidence';
import { PASS_BETA } from './statistical';
import { bernoulliKl, sprtExpectedSamples } from './sequential';
import { signalDef, signalDrift } from './signals';
import type { MetricName } from './types';

/** What the stable version looks like; the predictions are for a canary this much worse. */
export interface Baseline {
  errorRate: number;
  taskSuccessRate: number;
  qualityMean: number;
  qualitySd: number;
  /**
   * How fast the latency tail thins: a request is above x*(1+d) (1+d)^-index times as often as above
   * x near the p99. About 2.3/sigma for lognormal latencies (5 for sigma 0.5).
   */
  latencyTailIndex: number;
  /** Fraction of requests that get task-success and quality feedback. */
  feedbackFraction: number;
}

export const DEFAULT_BASELINE: Baseline = {
  errorRate: 0.01,
  taskSuccessRate: 0.95,
  qualityMean: 0.8,
  qualitySd: 0.15,
  latencyTailIndex: 5,
  feedbackFraction: 1,
};

export interface DetectionInput {
  analysis: AnalysisConfig;
  /** Canary share of traffic in the stage, percent (as in the plan). */
  stageWeight: number;
  /** All of the agent's traffic, both versions. */
  requestsPerSecond: number;
  baseline?: Partial<Baseline>;
  /** The regression the stage must rule out to pass, in multiples of minEffect (passMultiple). */
  passMultiple?: number;
}

export interface MetricDetection {
  metric: MetricName;
  minEffect: number;
  /** Expected canary requests until a check fails, for a canary worse by exactly minEffect. */
  detectCanaryRequests: number;
  /** Time to rollback: checks are at interval boundaries and failureLimit failed checks are needed. */
  detectMs: number;
  /** Expected canary requests until the metric passes, for a canary equal to stable. */
  passCanaryRequests: number;
  passMs: number;
}

/** Expected LLR drift per canary request of the share test, under H1 and under H0. */
function shareDrift(w: number, rate0: number, rate1: number, perRequest: number) {
  const pi0 = w;
  const pi1 = (w * rate1) / (w * rate1 + (1 - w) * rate0);
  const eventsH1 = (w * rate1 + (1 - w) * rate0) / w;
  const eventsH0 = rate0 / w;
  return {
    h1: bernoulliKl(pi1, pi0) * eventsH1 * perRequest,
    h0: -bernoulliKl(pi0, pi1) * eventsH0 * perRequest,
  };
}

export function drifts(metric: MetricName, w: number, delta: number, b: Baseline) {
  switch (metric) {
    case 'error_rate':
      return shareDrift(w, b.errorRate, Math.min(1, b.errorRate + delta), 1);
    case 'task_success_rate': {
      const fail = 1 - b.taskSuccessRate;
      return shareDrift(w, fail, Math.min(1, fail + delta), b.feedbackFraction);
    }
    case 'p99_latency_ms':
      return shareDrift(w, 0.01, 0.01 * Math.pow(1 + delta, b.latencyTailIndex), 1);
    case 'quality_score': {
      // Variance of the mean difference per canary sample is sd^2 / (1-w) (the stable adds w/(1-w)).
      const info = ((delta * delta) / (2 * b.qualitySd * b.qualitySd)) * (1 - w) * b.feedbackFraction;
      return { h1: info, h0: -info };
    }
    case 'preference':
      // Accrues from judged shadow pairs, not from a weighted stage's traffic: no drift to predict here.
      return { h1: 0, h0: 0 };
    default:
      return signalDrift(metric, w, delta, b.latencyTailIndex, shareDrift);
  }
}

export function predictDetection(input: DetectionInput): MetricDetection[] {
  const { analysis } = input;
  const b: Baseline = { ...DEFAULT_BASELINE, ...input.baseline };
  const w = input.stageWeight / 100;
  const canaryPerSecond = input.requestsPerSecond * w;
  const interval = analysis.intervalMs;
  const toMs = (requests: number, extraChecks: number): number => {
    if (!(canaryPerSecond > 0) || !Number.isFinite(requests)) return Infinity;
    return Math.ceil(((requests / canaryPerSecond) * 1000) / interval) * interval + extraChecks * interval;
  };
  return analysis.metrics.map((metric) => {
    const delta = analysis.minEffect[metric];
    // Rules 3 (evidence carried across stages): one alpha per metric for the rollout.
    const alpha = rolloutAlpha(analysis, metric).comparison;
    const d = w > 0 && w < 1 ? drifts(metric, w, delta, b) : { h1: 0, h0: 0 };
    const k = input.passMultiple ?? 1;
    const dp = w > 0 && w < 1 ? drifts(metric, w, k * delta, b) : { h1: 0, h0: 0 };
    // The fail side is a mixture: at the minimum effect only its weight counts, which raises the bar;
    // counted events are tempered by DISPERSION (bursts), which slows it by that factor.
    const phi = metric === 'quality_score' || signalDef(metric)?.family === 'mean' ? 1 : DISPERSION;
    const detect =
      d.h1 > 0 ? phi * sprtExpectedSamples(d.h1, alpha * ROLLOUT_WEIGHTS[0], PASS_BETA) : Infinity;
    const pass = dp.h0 < 0 ? sprtExpectedSamples(dp.h0, alpha, PASS_BETA) : Infinity;
    return {
      metric,
      minEffect: delta,
      detectCanaryRequests: Math.ceil(detect),
      detectMs: toMs(detect, analysis.failureLimit - 1),
      passCanaryRequests: Math.ceil(pass),
      passMs: toMs(pass, 0),
    };
  });
}

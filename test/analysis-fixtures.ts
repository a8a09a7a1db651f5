// Builders of metric windows for the judge tests.
import type { Histogram, MetricsWindow, VersionMetrics } from '../src/metrics/types';
import { resolvePlan, type AnalysisConfig } from '../src/plan';

export interface VersionSpec {
  requests?: number;
  errors?: number;
  /** Latency histogram; p99 is left for the judge to compute unless given. */
  latency?: Histogram;
  p99?: number;
  successes?: number;
  total?: number;
  quality?: Histogram;
}

export function version(name: string, s: VersionSpec): VersionMetrics {
  const latency = s.latency ?? [];
  const quality = s.quality ?? [];
  const count = (h: Histogram) => h.reduce((n, [, c]) => n + c, 0);
  return {
    version: name,
    requests: s.requests ?? 0,
    errors: s.errors ?? 0,
    latencyMs: { count: count(latency), p50: null, p99: s.p99 ?? null, histogram: latency },
    taskSuccess: { successes: s.successes ?? 0, total: s.total ?? 0 },
    quality: {
      count: count(quality),
      sum: quality.reduce((sum, [v, c]) => sum + v * c, 0),
      histogram: quality,
    },
  };
}

export function windowOf(stable: VersionSpec, canary: VersionSpec): MetricsWindow {
  return {
    agent: 'bot',
    since: 0,
    until: 60_000,
    stable: version('v1', stable),
    canary: version('v2', canary),
  };
}

/** The default plan's analysis section with overrides (as written in a plan, then resolved). */
export function analysisWith(overrides: Record<string, unknown> = {}): AnalysisConfig {
  return resolvePlan({ agent: 'bot', stable: 'v1', canary: 'v2', analysis: overrides }).analysis;
}

/** A healthy version: n requests with 1% errors, 95% task success, lognormal-ish latency, quality ~0.8. */
export function healthy(n: number, overrides: VersionSpec = {}): VersionSpec {
  // Counts add up to n exactly: the first bucket takes the rounding remainder.
  const scale = (fractions: [number, number][]): Histogram => {
    const h = fractions.map(([v, f]) => [v, Math.round(f * n)] as [number, number]);
    h[0][1] += n - h.reduce((sum, [, c]) => sum + c, 0);
    return h.filter(([, c]) => c > 0);
  };
  return {
    requests: n,
    errors: Math.round(n * 0.01),
    latency: scale([
      [100, 0.2],
      [200, 0.4],
      [300, 0.25],
      [500, 0.1],
      [800, 0.04],
      [1300, 0.01],
    ]),
    successes: Math.round(n * 0.95),
    total: n,
    quality: scale([
      [0.6, 0.2],
      [0.8, 0.4],
      [1, 0.4],
    ]),
    ...overrides,
  };
}

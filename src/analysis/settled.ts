// What an absolute limit on an outcome (task success, quality) reads. Outcomes arrive late, and bad
// ones often sooner than good ones (a failed task is reported at once, a good one when the user
// comes back, or never): over the last minutes a version's requests have their bad outcomes and not
// yet all their good ones. The comparison of the two versions reads the whole window (both sides
// are alike in that, so it is fair), but a one-sample limit on the canary ("task success at least
// 90%") would read that bias as the canary's. So such limits read only requests older than the
// plan's feedback horizon, from the check's second read (MetricsWindow.settled).
import type { MetricsWindow } from '../metrics/types';
import { formatDuration } from '../plan/duration';
import type { AnalysisConfig } from '../plan/schema';
import type { MetricName } from './types';
import { measure } from './values';

/** Metrics reported after the answer (feedback, evaluations): their limits wait for the horizon. */
export const OUTCOME_METRICS: ReadonlySet<MetricName> = new Set(['task_success_rate', 'quality_score']);

export type GuardWindow =
  /** The whole window: not an outcome, no horizon read, or (note) a source that cannot give one. */
  | { kind: 'window'; window: MetricsWindow; note?: string }
  /** Requests older than the horizon, with enough outcomes on both versions. */
  | { kind: 'settled'; window: MetricsWindow; words: string }
  /** Too few outcomes of requests older than the horizon yet: never healthy, never failed. */
  | { kind: 'waiting'; reason: string };

/** The window an absolute limit of `metric` reads (see the header). */
export function guardWindow(
  window: MetricsWindow,
  analysis: AnalysisConfig,
  metric: MetricName,
): GuardWindow {
  const settled = window.settled;
  if (!OUTCOME_METRICS.has(metric) || !settled) return { kind: 'window', window };
  const older = `requests older than ${formatDuration(settled.horizonMs)}`;
  if ('unavailable' in settled) {
    return {
      kind: 'window',
      window,
      note: `limit read on every request, not only ${older}: ${settled.unavailable}`,
    };
  }
  const w: MetricsWindow = {
    agent: window.agent,
    since: settled.since,
    until: settled.until,
    stable: settled.stable,
    canary: settled.canary,
  };
  const { nodata } = measure(w, analysis.minSamples, metric);
  if (nodata) {
    return {
      kind: 'waiting',
      reason: `waiting for feedback (${older}: ${nodata.reason.replace(`${metric}: `, '')})`,
    };
  }
  return { kind: 'settled', window: w, words: older };
}

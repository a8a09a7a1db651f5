import type { MetricResult, Verdict } from './types';

/**
 * One verdict from per-metric results: fail when any metric fails, pass only when every metric
 * passes, otherwise inconclusive (nodata and inconclusive never count as healthy).
 */
export function combineVerdict(judge: Verdict['judge'], metrics: MetricResult[]): Verdict {
  const failed = metrics.filter((m) => m.status === 'fail');
  const waiting = metrics.filter((m) => m.status === 'nodata' || m.status === 'inconclusive');
  if (failed.length > 0) {
    return { verdict: 'fail', judge, reason: failed.map((m) => m.reason).join(' | '), metrics };
  }
  if (waiting.length > 0) {
    return { verdict: 'inconclusive', judge, reason: waiting.map((m) => m.reason).join(' | '), metrics };
  }
  return {
    verdict: 'pass',
    judge,
    reason: metrics.length > 0 ? metrics.map((m) => m.reason).join(' | ') : 'no metric judged',
    metrics,
  };
}

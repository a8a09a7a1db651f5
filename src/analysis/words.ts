// Verdicts in plain words: what a person reads in status, notifications and decisions. The numbers
// behind them (likelihood ratios, p-values, counts) go to the metric's `stats.detail`, shown by
// --verbose and --json.
import { signalAgainstStable, signalEffectText, signalValueText } from './signals';
import type { MetricName } from './types';
import { fmt } from './values';

export { tooFew } from './values';

const pct = (x: number | null): string => (x === null ? 'n/a' : `${fmt(x * 100)}%`);

/** One metric's value as a person says it: "1.2%", "412ms", "0.8". */
export function valueText(metric: MetricName, v: number | null): string {
  switch (metric) {
    case 'error_rate':
    case 'task_success_rate':
      return pct(v);
    case 'p99_latency_ms':
      return v === null ? 'n/a' : `${fmt(v)}ms`;
    case 'quality_score':
      return fmt(v);
    case 'preference':
      return pct(v);
    default:
      return signalValueText(metric, v);
  }
}

/** "15.8% errors against 0.75% on stable". */
export function againstStable(metric: MetricName, canary: number | null, stable: number | null): string {
  const c = valueText(metric, canary);
  const s = valueText(metric, stable);
  switch (metric) {
    case 'error_rate':
      return `${c} errors against ${s} on stable`;
    case 'task_success_rate':
      return `task success ${c} against ${s} on stable`;
    case 'p99_latency_ms':
      return `p99 ${c} against ${s} on stable`;
    case 'quality_score':
      return `quality ${c} against ${s} on stable`;
    case 'preference':
      return `canary preferred in ${c} of decided pairs, stable in ${s}`;
    default:
      return signalAgainstStable(metric, canary, stable);
  }
}

const points = (delta: number) => `${fmt(delta * 100)} point${fmt(delta * 100) === '1' ? '' : 's'}`;

/** A regression of `delta` (the plan's minEffect units) in words: "+0.5 points of errors". */
export function effectText(metric: MetricName, delta: number): string {
  switch (metric) {
    case 'error_rate':
      return `+${points(delta)} of errors`;
    case 'task_success_rate':
      return `-${points(delta)} of task success`;
    case 'p99_latency_ms':
      return `+${fmt(delta * 100)}% p99`;
    case 'quality_score':
      return `-${fmt(delta)} quality`;
    case 'preference':
      return `-${points(delta)} of preference (win share below 50%)`;
    default:
      return signalEffectText(metric, delta);
  }
}

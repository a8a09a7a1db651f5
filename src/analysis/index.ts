// The judge: pure functions from one window of both versions' metrics to a verdict. No I/O.
import type { MetricsWindow } from '../metrics/types';
import type { AnalysisConfig } from '../plan/schema';
import { judgeStatistical } from './statistical';
import { judgeThresholds } from './thresholds';
import type { Verdict } from './types';

export * from './types';
export { judgeThresholds, checkRules, type RuleCheck } from './thresholds';
export { judgeStatistical, alphaSplit, PASS_BETA, DEFAULT_OBSERVED_STAGES } from './statistical';
export {
  predictDetection,
  DEFAULT_BASELINE,
  type Baseline,
  type DetectionInput,
  type MetricDetection,
} from './predict';
export { metricValue, histogramQuantile } from './values';

/**
 * The plan's judge, on cumulative data since the stage began. `judgeVersion` 4: the rollout started
 * under patch judge-v4 (conversations as the unit), 5 under judge-v5 too (early stages may pass on
 * the means of conversations' own rates), 6 under judge v6 (docs/judge.md: the stages' feedback
 * reads and means summed; no workflow patch sets it yet); absent: the rules it started with.
 */
export function judge(window: MetricsWindow, analysis: AnalysisConfig, judgeVersion?: 4 | 5 | 6): Verdict {
  return analysis.judge === 'thresholds'
    ? judgeThresholds(window, analysis)
    : judgeStatistical(
        window,
        analysis,
        judgeVersion !== undefined,
        judgeVersion !== undefined && judgeVersion >= 5,
        judgeVersion === 6,
      );
}

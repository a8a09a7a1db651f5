// Which way each metric gets worse. Zero runtime dependencies: the workflow's policy reads it (a held
// pause compares regressions) and its sandbox must not load zod through src/analysis/types.ts.
import type { MetricName } from './types';

/** Direction in which a metric gets worse: used by every judge and by the CLI to draw arrows. */
export const WORSE_WHEN_HIGHER: Record<MetricName, boolean> = {
  error_rate: true,
  p99_latency_ms: true,
  task_success_rate: false,
  quality_score: false,
  cost_per_request: true,
  output_tokens: true,
  input_tokens: true,
  ttft_p99_ms: true,
  tool_error_rate: true,
  truncation_rate: true,
  preference: false,
};

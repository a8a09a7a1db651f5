// Human-readable renderings shared by the notifiers and the CLI: one place decides how a metric
// value, an event and a link to the Temporal Web UI look.
import { signalValueText } from '../analysis/signals';
import type { MetricName, MetricResult, Verdict } from '../analysis/types';
import type { NotifyEvent, NotifyEventType } from './types';

export function formatMetricValue(metric: MetricName, value: number | null): string {
  if (value === null || !Number.isFinite(value)) return 'n/a';
  switch (metric) {
    case 'error_rate':
    case 'task_success_rate':
      return `${(value * 100).toFixed(2)}%`;
    case 'p99_latency_ms':
      return `${Math.round(value)}ms`;
    case 'quality_score':
      return value.toFixed(3);
    case 'preference':
      return `${(value * 100).toFixed(1)}%`;
    case 'cost_per_request':
    case 'output_tokens':
    case 'input_tokens':
    case 'ttft_p99_ms':
    case 'tool_error_rate':
    case 'truncation_rate':
      return signalValueText(metric, value);
    default:
      // A plan's custom metric (cost, tokens...): its unit is the team's, so the number as it is.
      return Number(value.toPrecision(4)).toString();
  }
}

/** "error_rate: stable 1.00% vs canary 8.00% (n=500/480) fail: above 5%" */
export function formatMetricLine(m: MetricResult): string {
  const stable = formatMetricValue(m.metric, m.stable);
  const canary = formatMetricValue(m.metric, m.canary);
  const reason = m.reason ? `: ${m.reason}` : '';
  return `${m.metric}: stable ${stable} vs canary ${canary} (n=${m.stableSamples}/${m.canarySamples}) ${m.status}${reason}`;
}

export function formatVerdict(v: Verdict): string[] {
  return [
    `verdict ${v.verdict} (${v.judge})${v.reason ? `: ${v.reason}` : ''}`,
    ...v.metrics.map(formatMetricLine),
  ];
}

/** Link to a rollout in the Temporal Web UI; undefined when the UI address is not known. */
export function rolloutUrl(uiUrl: string | undefined, namespace: string | undefined, workflowId: string) {
  if (!uiUrl) return undefined;
  const base = uiUrl.replace(/\/+$/, '');
  return `${base}/namespaces/${encodeURIComponent(namespace ?? 'default')}/workflows/${encodeURIComponent(workflowId)}`;
}

/**
 * Link to a rollout's page on the agent-canary dashboard (`agent-canary ui`), where its Pause, Resume,
 * Promote and Abort buttons are; undefined when no dashboard address is configured. The page asks
 * for the dashboard token itself: no credential ever goes into a notification.
 */
export function dashboardRolloutUrl(dashboardUrl: string | undefined, workflowId: string) {
  if (!dashboardUrl) return undefined;
  return `${dashboardUrl.replace(/\/+$/, '')}/rollouts/${encodeURIComponent(workflowId)}`;
}

const HEADLINES: Record<NotifyEventType, string> = {
  started: 'rollout started',
  stage_advanced: 'advanced to the next stage',
  paused: 'rollout paused',
  resumed: 'rollout resumed',
  rolled_back: 'ROLLED BACK to stable',
  aborted: 'rollout aborted, back to stable',
  promoted: 'promoted: canary is the new stable',
  inconclusive_streak: 'too little data: rollout paused, needs a person',
  paused_on_fail: 'check failed: rollout paused, waits for a person (dismiss, promote or abort)',
  dismissed: 'failed checks dismissed, rollout goes on',
  awaiting_approval: 'stage healthy: waits for approval',
  approved: 'stage approved',
};

export function headline(event: NotifyEvent): string {
  return `${event.agent}: ${HEADLINES[event.type]} (${event.stable} -> ${event.canary})`;
}

export function stageLine(event: NotifyEvent): string {
  return `stage ${event.stageIndex + 1}/${event.stageCount}, canary at ${event.percent}%`;
}

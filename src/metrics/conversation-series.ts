// The gateway's per-conversation sums as Prometheus counters (docs/judge.md, "What the gateway
// reports"), one definition for the exposition (src/gateway/metrics-store.ts) and the Prometheus
// metrics source (src/metrics/prometheus.ts). Only the sums that never go down are exported: the
// signed ones (clean counts, each conversation's slowest request) exist per window only, so through
// Prometheus p99 is judged per request.
import type { ConversationCounts } from './types';

type Monotonic = Exclude<
  keyof ConversationCounts,
  | 'cleanRequests'
  | 'cleanOutcomes'
  | 'slowest'
  // Judge v5's per-conversation means: signed, per window only (Prometheus keeps judge v4's unit).
  | 'errorRateSum'
  | 'errorRateSq'
  | 'failureRateSum'
  | 'failureRateSq'
  | 'scored'
  | 'qualityMeanSum'
  | 'qualityMeanSq'
>;

export const CONVERSATION_SERIES: readonly { field: Monotonic; name: string; help: string }[] = [
  {
    field: 'count',
    name: 'agent_canary_conversations_total',
    help: 'Conversations (x-session-id) first seen on the version.',
  },
  {
    field: 'errored',
    name: 'agent_canary_conversations_errored_total',
    help: 'Conversations with at least one failed request.',
  },
  {
    field: 'requestsSq',
    name: 'agent_canary_conversation_requests_sq_total',
    help: 'Sum over conversations of requests^2.',
  },
  {
    field: 'errorsSq',
    name: 'agent_canary_conversation_errors_sq_total',
    help: 'Sum over conversations of failed requests^2.',
  },
  {
    field: 'errorsRequests',
    name: 'agent_canary_conversation_errors_requests_total',
    help: 'Sum over conversations of failed requests x requests.',
  },
  {
    field: 'tasked',
    name: 'agent_canary_conversations_tasked_total',
    help: 'Conversations with at least one task outcome.',
  },
  {
    field: 'failedTask',
    name: 'agent_canary_conversations_failed_task_total',
    help: 'Conversations with at least one failed task.',
  },
  {
    field: 'failuresSq',
    name: 'agent_canary_conversation_failures_sq_total',
    help: 'Sum over conversations of failed tasks^2.',
  },
  {
    field: 'failuresOutcomes',
    name: 'agent_canary_conversation_failures_outcomes_total',
    help: 'Sum over conversations of failed tasks x task outcomes.',
  },
  {
    field: 'outcomesSq',
    name: 'agent_canary_conversation_outcomes_sq_total',
    help: 'Sum over conversations of task outcomes^2.',
  },
  {
    field: 'qualitySq',
    name: 'agent_canary_conversation_quality_sq_total',
    help: 'Sum over conversations of (sum of quality scores)^2.',
  },
  {
    field: 'qualityCross',
    name: 'agent_canary_conversation_quality_cross_total',
    help: 'Sum over conversations of sum of scores x number of scores.',
  },
  {
    field: 'qualityCountSq',
    name: 'agent_canary_conversation_quality_count_sq_total',
    help: 'Sum over conversations of (number of scores)^2.',
  },
];

/** Conversation counts from the series' deltas over a window; undefined when the source has none. */
export function conversationsFromSeries(
  value: (name: string) => number | undefined,
): ConversationCounts | undefined {
  if (value('agent_canary_conversations_total') === undefined) return undefined;
  const out: Record<string, unknown> = { cleanRequests: 0, cleanOutcomes: 0, slowest: [] };
  for (const s of CONVERSATION_SERIES) out[s.field] = Math.max(0, value(s.name) ?? 0);
  return out as ConversationCounts;
}

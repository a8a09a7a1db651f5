import type { Verdict } from '../analysis/types';

export const NOTIFY_EVENTS = [
  'started',
  'stage_advanced',
  'paused',
  'resumed',
  'rolled_back',
  'aborted',
  'promoted',
  'inconclusive_streak',
  // Gates (docs/gates.md): a pause on a failed check that waits for a person, and approvals.
  'paused_on_fail',
  'dismissed',
  'awaiting_approval',
  'approved',
] as const;
export type NotifyEventType = (typeof NOTIFY_EVENTS)[number];

/** One thing that happened to a rollout, as notifiers receive it. JSON-safe. */
export interface NotifyEvent {
  type: NotifyEventType;
  agent: string;
  stable: string;
  canary: string;
  workflowId: string;
  runId: string;
  stageIndex: number;
  stageCount: number;
  percent: number;
  reason: string;
  by: string;
  /** ISO time. */
  at: string;
  verdict?: Verdict;
}

export interface DeliveryFailure {
  target: string;
  error: string;
}

/** A channel (Slack, webhook, log). send() throws on a failed delivery. */
export interface Notifier {
  readonly name: string;
  send(event: NotifyEvent): Promise<void>;
}

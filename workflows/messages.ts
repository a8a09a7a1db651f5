// The public contract of the canaryRollout workflow (DESIGN.md §3): names and payloads of its
// signals, updates and query. Shared by the workflow, the worker, the CLI and tests.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import type { Verdict } from '../src/analysis/types';
import { durationSchema, PLAN_LIMITS } from '../src/plan/schema';

export const WORKFLOW_TYPE = 'canaryRollout';
export const TASK_QUEUE = 'agent-canary';
export const workflowIdFor = (agent: string): string => `canary-${agent}`;

const By = z.string().max(200).optional();
const Reason = z.string().max(2000).optional();

export const PauseInputSchema = z.object({ reason: Reason, by: By }).strict();
export const ResumeInputSchema = z.object({ reason: Reason, by: By }).strict();
export const PromoteInputSchema = z.object({ full: z.boolean().optional(), reason: Reason, by: By }).strict();
export const AbortInputSchema = z
  .object({ reason: z.string().min(1, 'an abort needs a reason').max(2000), by: By })
  .strict();
/**
 * More observation for the current stage: `duration` as written ("30m", "1h") or ms. Bounded here by
 * the longest stage window; the workflow also refuses an extension that would run past the plan's
 * progress deadline.
 */
export const ExtendInputSchema = z
  .object({ duration: durationSchema(PLAN_LIMITS.maxObserveMs, 1_000), reason: Reason, by: By })
  .strict();
/** Clears the failed checks (and a pause on failure) of the current stage; judging starts afresh. */
export const DismissInputSchema = z.object({ reason: Reason, by: By }).strict();
/** Lets the current stage's approval gate open (`approval: true` in the plan), recorded with who. */
export const ApproveInputSchema = z.object({ reason: Reason, by: By }).strict();
export type ApproveInput = z.infer<typeof ApproveInputSchema>;
export type ExtendInput = z.infer<typeof ExtendInputSchema>;
export type DismissInput = z.infer<typeof DismissInputSchema>;
export type PauseInput = z.infer<typeof PauseInputSchema>;
export type ResumeInput = z.infer<typeof ResumeInputSchema>;
export type PromoteInput = z.infer<typeof PromoteInputSchema>;
export type AbortInput = z.infer<typeof AbortInputSchema>;

export const ROLLOUT_STATES = ['progressing', 'paused', 'promoted', 'rolled_back', 'aborted'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];
export const FINAL_STATES: readonly RolloutState[] = ['promoted', 'rolled_back', 'aborted'];
export const isFinal = (state: RolloutState): boolean => FINAL_STATES.includes(state);

export interface Decision {
  /** ISO time (workflow time). */
  at: string;
  action:
    | 'started'
    | 'stage_started'
    | 'paused'
    | 'resumed'
    | 'promoted_stage'
    | 'promoted'
    | 'rolled_back'
    | 'aborted'
    | 'inconclusive_streak'
    | 'check_failed'
    | 'paused_on_fail'
    | 'extended'
    | 'dismissed'
    | 'awaiting_approval'
    | 'approved'
    | 'hook_failed';
  by: string;
  reason: string;
  stageIndex: number;
  percent: number;
}

export interface LastAnalysis extends Verdict {
  at: string;
  windowStart: string;
  /** Checks that failed so far in this stage, and the inconclusive streak, after this check. */
  failedChecks: number;
  inconclusiveStreak: number;
}

export interface NotifyFailure {
  at: string;
  event: string;
  target: string;
  error: string;
}

export interface RolloutStatus {
  /**
   * The workflow time the figures below are computed at (its last activation, not the query's
   * arrival): clients bring the observation clock forward from here.
   */
  asOf?: string;
  workflowId: string;
  agent: string;
  stable: string;
  canary: string;
  state: RolloutState;
  stageIndex: number;
  stageCount: number;
  canaryPercent: number;
  /** `shadow`: the stage mirrors this percent of requests to the canary (weight 0, docs/shadow.md). */
  stages: { weight: number; observeMs: number; shadow?: number }[];
  /** ISO time the current stage began, and its observation time so far and still to go (ms). */
  stageStartedAt: string;
  observedMs: number;
  remainingMs: number;
  /**
   * The observation clock runs now: false while paused, before the first split is confirmed and
   * while the metrics source is out (time without metrics is not observation).
   */
  observing?: boolean;
  startedAt: string;
  deadlineAt: string;
  failedChecks: number;
  failureLimit: number;
  inconclusiveStreak: number;
  lastAnalysis: LastAnalysis | null;
  decisions: Decision[];
  notifyFailures: NotifyFailure[];
  /** Observation time added to the current stage by `extend` (ms; absent or 0 when none). */
  extendedMs?: number;
  /**
   * Paused because a check failed on metrics whose analysis.onFail is pause: the canary keeps its
   * share and is still judged (a second failed check rolls back); `dismiss` continues, `abort` ends.
   */
  pausedOnFail?: {
    at: string;
    metrics: string[];
    reason: string;
    /** Gates: when the pause rolls back if nobody acts (analysis.onFail.timeout); absent: the deadline. */
    until?: string;
    /** Gates: the pause holds for a person (not "a second failed check rolls back"). */
    holds?: boolean;
  };
  /**
   * The current stage has an approval gate (`approval: true`): whether it was approved (by whom), and
   * since when its window has been healthy and waiting for the approval.
   */
  approval?: { stageIndex: number; approvedBy: string | null; waitingSince: string | null };
  /** A traffic write under way (it is retried until it lands): what, since when, the router's last error. */
  applying?: { what: string; since: string; attempts: number; lastError: string | null };
  /** The rollout is ending (abort, rollback) and waits for its stable write. */
  ending?: { state: RolloutState; reason: string };
  /**
   * Added by the client, not the workflow: the Temporal execution's own state when it is not running
   * or completed normally (terminated, failed, timed out, cancelled), with its cause.
   */
  execution?: { status: string; closedAt: string | null; cause: string | null };
}

export interface RolloutResult {
  state: RolloutState;
  stable: string;
  reason: string;
}

/**
 * The failure type of a rollout that ended rolled back, when it was started with the option
 * `outcomeStatus` (agent-canary's clients set it): the run closes as Temporal Failed, so the Web UI's
 * list shows it red, with the RolloutResult as the failure's first detail. An aborted one closes as
 * Canceled, a promoted one as Completed (docs/web-ui.md).
 */
export const ROLLED_BACK_FAILURE = 'RolledBack';

export const pauseSignal = defineSignal<[PauseInput]>('pause');
export const resumeSignal = defineSignal<[ResumeInput]>('resume');
export const promoteSignal = defineSignal<[PromoteInput]>('promote');
export const abortSignal = defineSignal<[AbortInput]>('abort');
export const extendSignal = defineSignal<[z.input<typeof ExtendInputSchema>]>('extend');
export const dismissSignal = defineSignal<[DismissInput]>('dismiss');
export const approveSignal = defineSignal<[ApproveInput]>('approve');

export const pauseUpdate = defineUpdate<RolloutStatus, [PauseInput]>('pause');
export const resumeUpdate = defineUpdate<RolloutStatus, [ResumeInput]>('resume');
export const promoteUpdate = defineUpdate<RolloutStatus, [PromoteInput]>('promote');
export const abortUpdate = defineUpdate<RolloutStatus, [AbortInput]>('abort');
export const extendUpdate = defineUpdate<RolloutStatus, [z.input<typeof ExtendInputSchema>]>('extend');
export const dismissUpdate = defineUpdate<RolloutStatus, [DismissInput]>('dismiss');
export const approveUpdate = defineUpdate<RolloutStatus, [ApproveInput]>('approve');

export const statusQuery = defineQuery<RolloutStatus>('status');

/** Search attributes (DESIGN.md §3): the dev server launcher registers these, `list` queries them. */
export const SA = {
  agent: defineSearchAttributeKey('CanaryAgent', SearchAttributeType.KEYWORD),
  state: defineSearchAttributeKey('CanaryState', SearchAttributeType.KEYWORD),
  percent: defineSearchAttributeKey('CanaryPercent', SearchAttributeType.INT),
  canaryVersion: defineSearchAttributeKey('CanaryVersion', SearchAttributeType.KEYWORD),
  stableVersion: defineSearchAttributeKey('StableVersion', SearchAttributeType.KEYWORD),
} as const;

// The plain types of the rollout contract: what the workflow answers (status, result), the inputs of
// its commands and the options it starts with. No runtime code: clients check the same shapes with zod
// (src/temporal/status-schema.ts, src/temporal/command-schemas.ts), the workflow with plain guards.
import type { Verdict } from '../analysis/types';
import type { DecisionAction, RolloutState } from './names';

/** Who asks, and why: recorded with the decision. */
export interface Attribution {
  reason?: string;
  by?: string;
}
export type PauseInput = Attribution;
export type ResumeInput = Attribution;
export type DismissInput = Attribution;
export type ApproveInput = Attribution;
export interface PromoteInput extends Attribution {
  full?: boolean;
}
export interface AbortInput {
  reason: string;
  by?: string;
}
/** `duration` in ms once checked; as sent it may also be written ("30m"). */
export interface ExtendInput extends Attribution {
  duration: number;
}
export type ExtendInputAsSent = Omit<ExtendInput, 'duration'> & { duration: number | string };
export const MAX_BY_CHARS = 200;
export const MAX_REASON_CHARS = 2000;

/** Options a client may pass as the workflow's second argument. */
export interface RolloutOptions {
  /** State carried over from the previous run (continue-as-new): our own. */
  carried?: { version: 2; stageIndex: number; [field: string]: unknown };
  /** Continue as new after this many history events (tests force it low); the server's hint otherwise. */
  continueAsNewAfterEvents?: number;
  /**
   * End in Temporal's terms of the outcome (docs/web-ui.md): rolled back as Failed, aborted as
   * Canceled, promoted as Completed. Set by agent-canary's clients; others get Completed always.
   */
  outcomeStatus?: boolean;
  /** Set by `retry`: this run starts again a rollout that ended; recorded in the first decision. */
  retry?: { by: string; reason: string; previousRunId: string };
  /**
   * The plan was resolved and checked by an agent-canary client (src/plan): the workflow runs it as
   * it is. Without it (another client, a plan as written) the first activity resolves and checks it.
   */
  planChecked?: true;
}

export interface Decision {
  /** ISO time (workflow time). */
  at: string;
  action: DecisionAction;
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
 * The status of a rollout nothing has been decided for yet (no stage, no check): what the workflow
 * answers while its plan is being resolved, and what a client shows from visibility alone.
 */
export function blankStatus(
  id: Pick<RolloutStatus, 'workflowId' | 'agent' | 'stable' | 'canary'>,
  at: string,
): RolloutStatus {
  return {
    asOf: at,
    ...id,
    state: 'progressing',
    stageIndex: 0,
    stageCount: 0,
    canaryPercent: 0,
    stages: [],
    stageStartedAt: at,
    observedMs: 0,
    remainingMs: 0,
    startedAt: at,
    deadlineAt: at,
    failedChecks: 0,
    failureLimit: 0,
    inconclusiveStreak: 0,
    lastAnalysis: null,
    decisions: [],
    notifyFailures: [],
  };
}

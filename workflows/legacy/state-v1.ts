// FROZEN with legacy/canary-v1.ts: the state and transitions of rollouts started before the
// control-loop rework. Do not change (their histories replay on it).
import type { ResolvedPlan } from '../../src/plan/schema';
import type {
  AbortInput,
  Decision,
  LastAnalysis,
  NotifyFailure,
  PauseInput,
  PromoteInput,
  ResumeInput,
  RolloutState,
} from '../messages';
import { isFinal } from '../messages';

export { isFinal };

/** Everything a rollout needs to go on, JSON-safe: carried across continue-as-new as is. */
export interface CarriedState {
  version: 1;
  state: RolloutState;
  stageIndex: number;
  /** Epoch ms (workflow time) when the current stage's split was applied: the data window start. */
  stageStartedAt: number;
  /** Observation time accrued in this stage while not paused. */
  observedMs: number;
  /** Time accrued while not paused since the start, for progressDeadline. */
  activeMs: number;
  /** Last time observedMs/activeMs were brought up to date. */
  accruedAt: number;
  startedAt: number;
  failedChecks: number;
  passedChecks: number;
  inconclusiveStreak: number;
  lastAnalysis: LastAnalysis | null;
  decisions: Decision[];
  notifyFailures: NotifyFailure[];
  /** Commands taken by handlers, waiting for the main loop to carry them out. */
  pendingPromote: { full: boolean; by: string; reason: string } | null;
  pendingAbort: { by: string; reason: string } | null;
}

export const MAX_DECISIONS = 200;
export const MAX_NOTIFY_FAILURES = 20;
export const SYSTEM_ACTOR = 'agent-canary';

export function initialState(now: number): CarriedState {
  return {
    version: 1,
    state: 'progressing',
    stageIndex: 0,
    stageStartedAt: now,
    observedMs: 0,
    activeMs: 0,
    accruedAt: now,
    startedAt: now,
    failedChecks: 0,
    passedChecks: 0,
    inconclusiveStreak: 0,
    lastAnalysis: null,
    decisions: [],
    notifyFailures: [],
    pendingPromote: null,
    pendingAbort: null,
  };
}

/** Brings the pausable clocks up to `now`. Call before any change of paused/progressing. */
export function accrue(s: CarriedState, now: number): void {
  if (s.state === 'progressing') {
    const elapsed = Math.max(0, now - s.accruedAt);
    s.observedMs += elapsed;
    s.activeMs += elapsed;
  }
  s.accruedAt = now;
}

export function recordDecision(
  s: CarriedState,
  plan: ResolvedPlan,
  now: number,
  d: Pick<Decision, 'action' | 'by' | 'reason'>,
): Decision {
  const decision: Decision = {
    at: new Date(now).toISOString(),
    ...d,
    stageIndex: s.stageIndex,
    percent: percentOf(s, plan),
  };
  s.decisions.push(decision);
  if (s.decisions.length > MAX_DECISIONS) s.decisions.splice(0, s.decisions.length - MAX_DECISIONS);
  return decision;
}

/** The canary's share of traffic right now, as the router has been told. */
export function percentOf(s: CarriedState, plan: ResolvedPlan): number {
  if (s.state === 'promoted') return 100;
  if (s.state === 'rolled_back' || s.state === 'aborted') return 0;
  return plan.stages[s.stageIndex]?.weight ?? 0;
}

export type Command =
  | { kind: 'pause'; input: PauseInput }
  | { kind: 'resume'; input: ResumeInput }
  | { kind: 'promote'; input: PromoteInput }
  | { kind: 'abort'; input: AbortInput };

/** Why a command cannot be taken now, or null when it can. Updates turn this into a refusal. */
export function refusal(s: CarriedState, cmd: Command): string | null {
  if (isFinal(s.state)) {
    return `the rollout is already ${s.state.replace('_', ' ')}; nothing to ${cmd.kind}`;
  }
  if (s.pendingAbort) return `the rollout is being aborted (${s.pendingAbort.reason})`;
  switch (cmd.kind) {
    case 'pause':
      return s.state === 'paused' ? 'the rollout is already paused' : null;
    case 'resume':
      return s.state !== 'paused' ? 'the rollout is not paused' : null;
    case 'promote':
      return s.pendingPromote ? 'a promotion is already under way' : null;
    case 'abort':
      return null;
  }
}

/**
 * Takes an accepted command. Pause and resume take effect at once; promote and abort need traffic
 * changes, which the main loop carries out (handlers must not race it on the router): an Update
 * waits until pendingPromote/pendingAbort is cleared.
 */
export function applyCommand(s: CarriedState, plan: ResolvedPlan, cmd: Command, now: number): void {
  const by = cmd.input.by || 'unknown';
  switch (cmd.kind) {
    case 'pause':
      accrue(s, now);
      s.state = 'paused';
      recordDecision(s, plan, now, { action: 'paused', by, reason: cmd.input.reason || 'paused by hand' });
      break;
    case 'resume':
      accrue(s, now);
      s.state = 'progressing';
      s.inconclusiveStreak = 0;
      recordDecision(s, plan, now, { action: 'resumed', by, reason: cmd.input.reason || 'resumed by hand' });
      break;
    case 'promote':
      s.pendingPromote = {
        full: cmd.input.full === true,
        by,
        reason: cmd.input.reason || (cmd.input.full ? 'promoted to 100% by hand' : 'next stage by hand'),
      };
      break;
    case 'abort':
      s.pendingAbort = { by, reason: cmd.input.reason };
      break;
  }
}

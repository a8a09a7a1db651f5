// The policy's shared context (as Argo Rollouts' rollout/context.go): the state being stepped, the
// plan, the effects asked for so far and the time; with the small moves every concern makes on it
// (a decision, a notification, dropping an operation, ending with all traffic on stable).
import type { Verdict } from '../../src/analysis/types';
import type { Decision, NotifyFailure, RolloutState } from '../../src/contract';
import type { NotifyEventType } from '../../src/notify/types';
import type { HookType, ResolvedPlan } from '../../src/plan/schema';
import type { Effect, Ending, Inflight, PolicyState } from './types';

export const MAX_DECISIONS = 200;

export const MAX_NOTIFY_FAILURES = 20;

export const UNKNOWN_ACTOR = 'unknown';

export interface Ctx {
  s: PolicyState;
  plan: ResolvedPlan;
  fx: Effect[];
  now: number;
}

export function initialState(now: number, rules?: 3, checks?: 'deferred', gates?: 1): PolicyState {
  return {
    ...(gates ? { gates } : {}),
    ...(rules ? { rules } : {}),
    ...(checks ? { checks } : {}),
    version: 2,
    state: 'progressing',
    stageIndex: 0,
    stageApplied: false,
    appliedWeight: 0,
    stageStartedAt: now,
    observedMs: 0,
    observedAtCoveredCheck: 0,
    covered: true,
    activeMs: 0,
    accruedAt: now,
    startedAt: now,
    failedChecks: 0,
    passedChecks: 0,
    inconclusiveStreak: 0,
    outageStreak: 0,
    nextCheckAt: now,
    lastAnalysis: null,
    decisions: [],
    notifyFailures: [],
    pendingPromote: null,
    pendingAbort: null,
    ending: null,
    inflight: null,
    opSeq: 0,
    result: null,
  };
}

/** The canary's share of traffic right now, as the router has been told. */
export function percentOf(s: PolicyState): number {
  if (s.state === 'promoted') return 100;
  if (s.state === 'rolled_back' || s.state === 'aborted') return 0;
  return s.appliedWeight;
}

/** The current stage's observation window, with what `extend` added. */
export function windowMs(s: PolicyState, plan: ResolvedPlan): number {
  return (plan.stages[s.stageIndex]?.observeMs ?? 0) + (s.extendedMs ?? 0);
}

/** The traffic write the rollout is waiting on, for status ("waiting for the router"). */
export function applying(s: PolicyState): Extract<Inflight, { kind: 'write' }> | null {
  return s.inflight?.kind === 'write' ? s.inflight : null;
}

/** Gates: paused on a failed check, holding for a person (judged on the data since the pause). */
export function holding(s: PolicyState): boolean {
  return s.gates === 1 && !!s.pausedOnFail && s.state === 'paused';
}

export function isCurrent(s: PolicyState, opId: number): boolean {
  return s.inflight !== null && s.inflight.opId === opId;
}

/** Brings the pausable clocks up to `now`. */
export function accrue(s: PolicyState, now: number): void {
  const elapsed = Math.max(0, now - s.accruedAt);
  if (s.state === 'progressing') {
    // A stage waiting for approval is judged all along; the person's time is not the canary's.
    if (!s.awaitingApproval) s.activeMs += elapsed;
    if (s.stageApplied && s.covered) s.observedMs += elapsed;
  } else if (holding(s) && !s.awaitingApproval) {
    // The canary keeps its share while a pause on a failed check holds: the deadline still runs.
    s.activeMs += elapsed;
  }
  s.accruedAt = now;
}

export function decide(ctx: Ctx, action: Decision['action'], by: string, reason: string): void {
  const { s, now } = ctx;
  s.decisions.push({
    at: new Date(now).toISOString(),
    action,
    by,
    reason,
    stageIndex: s.stageIndex,
    percent: percentOf(s),
  });
  if (s.decisions.length > MAX_DECISIONS) s.decisions.splice(0, s.decisions.length - MAX_DECISIONS);
}

export function notify(
  ctx: Ctx,
  event: NotifyEventType,
  by: string,
  reason: string,
  verdict?: Verdict,
): void {
  if (ctx.plan.notify.length === 0) return;
  ctx.fx.push({ type: 'notify', event, by, reason, ...(verdict ? { verdict } : {}) });
}

/** An ending goes first: whatever is in flight (a check, a canary write) is dropped. */
export function preempt(ctx: Ctx): void {
  const f = ctx.s.inflight;
  if (f && !(f.kind === 'write' && f.write.purpose === 'stable')) drop(ctx);
}

export function drop(ctx: Ctx): void {
  if (!ctx.s.inflight) return;
  ctx.fx.push({ type: 'drop', opId: ctx.s.inflight.opId });
  ctx.s.inflight = null;
}

export function endWithStable(ctx: Ctx, ending: Ending): void {
  const { s } = ctx;
  if (s.ending?.cancelled) return;
  s.ending = ending;
  preempt(ctx);
}

export function finish(
  ctx: Ctx,
  state: RolloutState,
  stable: string,
  reason: string,
  extra: Partial<Effect> = {},
) {
  const { s } = ctx;
  s.state = state;
  s.inflight = null;
  s.pendingAbort = null;
  s.pendingPromote = null;
  s.result = { state, stable, reason };
  ctx.fx.push({ type: 'finish', result: s.result, ...(extra as object) });
  if (s.gates) {
    // Told, not asked: their answers change nothing (failures are kept with the notify failures).
    if (state !== 'promoted') tellHooks(ctx, 'rollback', reason);
    tellHooks(ctx, 'post-rollout', reason);
  }
}

export function hasHooks(plan: ResolvedPlan, type: HookType): boolean {
  return plan.hooks?.some((h) => h.type === type) ?? false;
}

export function tellHooks(ctx: Ctx, hook: HookType, reason: string): void {
  if (!hasHooks(ctx.plan, hook)) return;
  const { s } = ctx;
  ctx.fx.push({ type: 'hook', opId: 0, hook, stageIndex: s.stageIndex, weight: percentOf(s), reason });
}

export function nextOp(s: PolicyState): number {
  s.opSeq += 1;
  return s.opSeq;
}

/** Notification failures reported by the notify activity, kept bounded. */
export function recordNotifyFailures(s: PolicyState, failures: NotifyFailure[]): void {
  s.notifyFailures.push(...failures);
  s.notifyFailures.splice(0, Math.max(0, s.notifyFailures.length - MAX_NOTIFY_FAILURES));
}

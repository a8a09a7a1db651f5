// Scheduling: what is due when nothing is in flight (the first write, a promotion, the deadline, the
// next check), when to wake, how stages move on through approval gates and gate hooks.
import { passMultiple } from '../../src/analysis/evidence';
import { SYSTEM_ACTOR } from '../../src/contract';
import { formatDuration } from '../../src/plan/duration';
import { onFailTimeoutMs } from '../../src/plan/on-fail';
import type { ResolvedPlan } from '../../src/plan/schema';
import { decide, endWithStable, hasHooks, holding, nextOp, notify, windowMs } from './context';
import type { Ctx } from './context';
import type { GateHook, Inflight, PolicyState, Write } from './types';
import { promoteWrite, stageWrite, startWrite } from './writes';

/** When nothing is in flight: start what is due. */
export function advance(ctx: Ctx): void {
  const { s, plan, now } = ctx;
  if (s.result || s.inflight) return;
  if (s.ending) {
    startWrite(ctx, {
      purpose: 'stable',
      stageIndex: s.stageIndex,
      weight: 0,
      label: `${s.ending.final === 'aborted' ? 'abort' : 'rollback'}: ${plan.stable} 100%`,
      by: s.ending.by,
      reason: s.ending.reason,
    });
    return;
  }
  const p = s.pendingPromote;
  if (!s.stageApplied && !p) {
    const first = stageWrite(plan, 0, SYSTEM_ACTOR, `stage 1: ${plan.stages[0].weight}%`);
    if (s.gates && !s.preRolloutDone && hasHooks(plan, 'pre-rollout')) {
      if (now >= s.nextCheckAt) startHook(ctx, 'pre-rollout', first);
      return;
    }
    startWrite(ctx, first);
    return;
  }
  if (p) {
    const next = s.stageApplied ? s.stageIndex + 1 : 0;
    if (p.full || plan.stages[next].weight >= 100) startWrite(ctx, promoteWrite(plan, p.by, p.reason));
    else startWrite(ctx, stageWrite(plan, next, p.by, p.reason, true));
    return;
  }
  if (s.activeMs >= plan.progressDeadlineMs) {
    endWithStable(ctx, {
      final: 'rolled_back',
      by: SYSTEM_ACTOR,
      reason: `progress deadline exceeded (${Math.round(plan.progressDeadlineMs / 1000)}s)`,
    });
    advance(ctx);
    return;
  }
  const due = holdDueAt(s, plan);
  if (due !== null && now >= due) {
    endWithStable(ctx, {
      final: 'rolled_back',
      by: SYSTEM_ACTOR,
      reason:
        `paused on a failed check for ${formatDuration(now - s.pausedOnFail!.at)} and nobody acted ` +
        `(analysis.onFail.timeout): ${s.pausedOnFail!.reason}; canary withdrawn`,
    });
    advance(ctx);
    return;
  }
  const stage = plan.stages[s.stageIndex];
  // The end of the window gets a check of its own; past it, checks keep their interval.
  const window = windowMs(s, plan);
  const windowDue = s.state === 'progressing' && s.observedMs >= window && s.observedAtCoveredCheck < window;
  if (s.checks === 'deferred') {
    // Handed out at once, due when the timer would have fired: the activity waits until then.
    // A slot already past (a run that started late, e.g. the first task after a continue-as-new on a
    // busy machine) is checked at once but keeps its place on the grid: the activity does not wait
    // for a time gone by, and the checks after it stay on the stage's cadence.
    const at = windowDue ? now : s.nextCheckAt <= now ? s.nextCheckAt : wakeAt(s, plan, now);
    startCheck(ctx, stage.weight, at, at);
    return;
  }
  if (now >= s.nextCheckAt || windowDue) startCheck(ctx, stage.weight, now);
}

/** A check of the stage in place, judging its window up to `until`; deferred ones carry `at`. */
export function startCheck(ctx: Ctx, weight: number, until: number, at?: number): void {
  const { s } = ctx;
  const opId = nextOp(s);
  // A held pause judges the data since the pause: the data before it already failed.
  const since = holding(s) ? Math.max(s.stageStartedAt, s.pausedOnFail!.at) : s.stageStartedAt;
  s.inflight = { kind: 'check', opId, since, until, stageIndex: s.stageIndex };
  ctx.fx.push({
    type: 'check',
    opId,
    since,
    until,
    stageIndex: s.stageIndex,
    weight,
    ...(at === undefined ? {} : { at }),
    // A held pause judges the data since the pause on its own (checkDone), not the rollout.
    ...(s.rules === 3 && ctx.plan.analysis.judge === 'statistical' && !holding(s)
      ? {
          rollout: {
            ...(s.carried ? { carried: s.carried } : {}),
            passAt: passMultiple(ctx.plan, s.stageIndex),
            ...(s.judgeV6 && s.evidence ? { latest: s.evidence } : {}),
          },
        }
      : {}),
  });
}

/**
 * The next check of a deferred cadence: the first multiple of the interval from the stage start that
 * is still ahead, so a slow check does not push every later one back.
 */
export function nextOnGrid(s: PolicyState, plan: ResolvedPlan, now: number): number {
  const interval = plan.analysis.intervalMs;
  const k = Math.floor(Math.max(0, now - s.stageStartedAt) / interval) + 1;
  return s.stageStartedAt + k * interval;
}

/** Gates: when a held pause on a failed check rolls back if nobody acts (onFail.timeout), or null. */
export function holdDueAt(s: PolicyState, plan: ResolvedPlan): number | null {
  if (!holding(s)) return null;
  const timeout = onFailTimeoutMs(plan.analysis.onFail);
  return timeout === undefined ? null : s.pausedOnFail!.at + timeout;
}

export function wakeAt(s: PolicyState, plan: ResolvedPlan, now: number): number {
  const window = windowMs(s, plan);
  let at = s.nextCheckAt;
  if (s.state === 'progressing') {
    if (s.covered && s.observedMs < window) at = Math.min(at, now + window - s.observedMs);
    at = Math.min(at, now + Math.max(0, plan.progressDeadlineMs - s.activeMs));
  } else if (holding(s)) {
    at = Math.min(at, now + Math.max(0, plan.progressDeadlineMs - s.activeMs));
    const due = holdDueAt(s, plan);
    if (due !== null) at = Math.min(at, due);
  }
  return Math.max(at, now + 1);
}

export function nextStage(ctx: Ctx, reason: string): void {
  const { s, plan } = ctx;
  const next = s.stageIndex + 1;
  if (s.gates) {
    gatedNextStage(ctx, reason);
    return;
  }
  if (plan.stages[next].weight >= 100) {
    startWrite(ctx, promoteWrite(plan, SYSTEM_ACTOR, `all ${plan.stages.length - 1} stages healthy`));
    return;
  }
  startWrite(ctx, stageWrite(plan, next, SYSTEM_ACTOR, reason));
}

/** Gates: a stage with approval waits for `approve`; confirm hooks are asked before the write. */
export function gatedNextStage(ctx: Ctx, reason: string): void {
  const { s, plan } = ctx;
  if (plan.stages[s.stageIndex]?.approval && s.approved?.stageIndex !== s.stageIndex) {
    if (!s.awaitingApproval) {
      s.awaitingApproval = ctx.now;
      const why = `${reason}; waits for approval (\`approve\`)`;
      decide(ctx, 'awaiting_approval', SYSTEM_ACTOR, why);
      notify(ctx, 'awaiting_approval', SYSTEM_ACTOR, why);
    }
    return;
  }
  const next = s.stageIndex + 1;
  const promote = plan.stages[next].weight >= 100;
  const write = promote
    ? promoteWrite(plan, SYSTEM_ACTOR, `all ${plan.stages.length - 1} stages healthy`)
    : stageWrite(plan, next, SYSTEM_ACTOR, reason);
  const hook = promote ? 'confirm-promotion' : 'confirm-traffic-increase';
  if (hasHooks(plan, hook)) startHook(ctx, hook, write);
  else startWrite(ctx, write);
}

/** Gates: the hooks of this type are called first; the write follows when they all answer 2xx. */
export function startHook(ctx: Ctx, hook: GateHook, then: Write): void {
  const { s, now, plan } = ctx;
  const opId = nextOp(s);
  s.inflight = { kind: 'hook', opId, hook, then, since: now };
  const weight = plan.stages[then.stageIndex]?.weight ?? 0;
  ctx.fx.push({ type: 'hook', opId, hook, stageIndex: then.stageIndex, weight, reason: then.reason });
}

/**
 * A gate hook's answer. A failing one is a failed check whose reason is the hook's answer: it rolls
 * back at the failure limit; below it, the pre-rollout hooks are asked again after an interval and a
 * confirm hook at the stage's next passing check.
 */
export function hookDone(ctx: Ctx, ok: boolean, reason: string): void {
  const { s, plan, now } = ctx;
  const f = s.inflight as Extract<Inflight, { kind: 'hook' }>;
  s.inflight = null;
  if (s.pendingAbort || s.ending) return;
  if (ok) {
    if (f.hook === 'pre-rollout') s.preRolloutDone = true;
    startWrite(ctx, f.then);
    return;
  }
  s.failedChecks += 1;
  const limit = plan.analysis.failureLimit;
  decide(ctx, 'hook_failed', SYSTEM_ACTOR, `${f.hook} hook failed (${s.failedChecks}/${limit}): ${reason}`);
  if (s.failedChecks >= limit) {
    endWithStable(ctx, {
      final: 'rolled_back',
      by: SYSTEM_ACTOR,
      reason: `${f.hook} hook failed${f.hook === 'pre-rollout' ? ' before any user traffic' : ''}, canary withdrawn: ${reason}`,
    });
    return;
  }
  s.nextCheckAt = now + plan.analysis.intervalMs;
}

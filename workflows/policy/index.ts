// The rollout policy as one pure reducer: step(state, plan, event, now) -> { state, effects, wakeAt }.
// The workflow (workflows/canary.ts, workflows/effects.ts) only carries effects out and feeds their outcomes back as
// events; the judge simulation (bench/judge-sim.ts) drives the same function with simulated time and
// traffic, and test/policy.test.ts tests it without a server. No workflow APIs, no I/O, no clocks:
// time comes in as `now`.
//
// Shape of the loop. At most one traffic operation is in flight at a time: a split write or a check
// (which renews the lease, then reads metrics and judges). Commands never wait behind it: an abort
// or a promotion drops the operation in flight (the interpreter cancels it and ignores its late
// outcome, matched by opId) and issues its own write at once. Writes carry `decidedAt`, so a router
// that honours it ignores a late write from a dropped operation.
//
// Split by concern around one context (./context.ts): commands, verdict rules, scheduling, writes.
import { SYSTEM_ACTOR } from '../../src/contract';
import type { ResolvedPlan } from '../../src/plan/schema';
import { takeCommand } from './commands';
import { accrue, decide, drop, endWithStable, isCurrent, notify, preempt } from './context';
import type { Ctx } from './context';
import { advance, hookDone, wakeAt } from './scheduling';
import type { Effect, PolicyEvent, PolicyState, StepResult } from './types';
import { checkDone } from './verdicts';
import { writeFailed, writeLanded } from './writes';

export function step(prev: PolicyState, plan: ResolvedPlan, event: PolicyEvent, now: number): StepResult {
  const s: PolicyState = {
    ...prev,
    decisions: [...prev.decisions],
    notifyFailures: [...prev.notifyFailures],
  };
  const fx: Effect[] = [];
  if (s.result) return { state: s, effects: fx, wakeAt: null };
  accrue(s, now);
  const ctx: Ctx = { s, plan, fx, now };

  switch (event.type) {
    case 'start':
      if (event.retry) {
        decide(
          ctx,
          'started',
          event.retry.by,
          `retry of run ${event.retry.previousRunId}: ${event.retry.reason}`,
        );
      } else decide(ctx, 'started', SYSTEM_ACTOR, 'rollout started');
      notify(ctx, 'started', SYSTEM_ACTOR, `rolling out ${plan.canary} over ${plan.stages.length} stages`);
      break;
    case 'continued':
      // A deferred check was given up for the new run: it is due when it was (see 'suspend').
      if (s.checks !== 'deferred') s.nextCheckAt = now;
      break;
    case 'suspend':
      if (s.inflight?.kind === 'check') drop(ctx);
      return { state: s, effects: fx, wakeAt: null };
    case 'tick':
      break;
    case 'command':
      takeCommand(ctx, event.command);
      break;
    case 'cancelled':
      if (!s.ending || !s.ending.cancelled) {
        s.pendingAbort = null;
        s.ending = { final: 'aborted', by: 'cancel', reason: 'workflow cancelled', cancelled: true };
        preempt(ctx);
      }
      break;
    case 'write_done':
      if (isCurrent(s, event.opId)) writeLanded(ctx);
      break;
    case 'check_done':
      if (isCurrent(s, event.opId)) checkDone(ctx, event.outcome);
      break;
    case 'hook_done':
      if (isCurrent(s, event.opId)) hookDone(ctx, event.ok, event.reason);
      break;
    case 'op_failed':
      if (!isCurrent(s, event.opId)) break;
      if (s.inflight!.kind === 'hook') {
        // The hook activity answers every failure of a hook itself: this is the activity failing.
        hookDone(ctx, false, `hook call failed: ${event.message}`);
      } else if (s.inflight!.kind === 'write') {
        writeFailed(ctx, event.kind, event.message);
      } else {
        s.inflight = null;
        if (event.kind === 'config') {
          endWithStable(ctx, {
            final: 'rolled_back',
            by: SYSTEM_ACTOR,
            reason: `configuration error, canary withdrawn: ${event.message}`,
            failure: event.message,
          });
        } else {
          // The lease renewal (or the whole check) ran out of time: not evidence, and said so.
          s.inflight = { kind: 'check', opId: event.opId, since: 0, until: 0, stageIndex: s.stageIndex };
          checkDone(ctx, { metrics: 'outage', message: event.message }, true);
        }
      }
      break;
  }
  advance(ctx);
  return { state: s, effects: fx, wakeAt: s.result || s.inflight ? null : wakeAt(s, plan, now) };
}

export * from './types';
export {
  MAX_DECISIONS,
  MAX_NOTIFY_FAILURES,
  applying,
  initialState,
  percentOf,
  recordNotifyFailures,
  windowMs,
} from './context';
export { refusal, settled } from './commands';
export { holdDueAt } from './scheduling';
export { SYSTEM_ACTOR } from '../../src/contract';

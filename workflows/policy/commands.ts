// Commands (pause, resume, promote, abort, extend, dismiss, approve): their admission (the one rule
// in ./admission.ts, which the client and the dashboard ask too) and their effect on the rollout.
import { isFinal } from '../../src/contract';
import { formatDuration } from '../../src/plan/duration';
import type { ResolvedPlan } from '../../src/plan/schema';
import { UNKNOWN_ACTOR, decide, drop, notify, preempt, windowMs } from './context';
import type { Ctx } from './context';
import { admission, admissionViewOfState } from './admission';
import { nextStage } from './scheduling';
import type { Command, PolicyState } from './types';

/** Why a command cannot be taken now, or null when it can: the one admission rule (./admission.ts). */
export function refusal(s: PolicyState, cmd: Command, plan?: ResolvedPlan): string | null {
  return admission(admissionViewOfState(s, plan), cmd);
}

/** True once the effect of an accepted command has happened (what an Update waits for). */
export function settled(s: PolicyState, kind: Command['kind']): boolean {
  if (kind === 'abort') return isFinal(s.state);
  if (kind === 'promote') return s.pendingPromote === null || isFinal(s.state);
  return true;
}

export function takeCommand(ctx: Ctx, cmd: Command): void {
  const { s } = ctx;
  if (refusal(s, cmd, ctx.plan)) return; // Signals may arrive for a state that no longer allows them.
  const by = cmd.input.by || UNKNOWN_ACTOR;
  switch (cmd.kind) {
    case 'pause': {
      const reason = cmd.input.reason || 'paused by hand';
      s.state = 'paused';
      decide(ctx, 'paused', by, reason);
      notify(ctx, 'paused', by, reason);
      break;
    }
    case 'resume': {
      const reason = cmd.input.reason || 'resumed by hand';
      s.state = 'progressing';
      s.inconclusiveStreak = 0;
      decide(ctx, 'resumed', by, reason);
      notify(ctx, 'resumed', by, reason);
      break;
    }
    case 'promote':
      s.pendingPromote = {
        full: cmd.input.full === true,
        by,
        reason: cmd.input.reason || (cmd.input.full ? 'promoted to 100% by hand' : 'next stage by hand'),
      };
      // A check in flight says nothing about the stage the operator moves to: drop it. A gate hook
      // in flight asks for the move the person now makes: dropped too (docs/gates.md).
      if (s.inflight?.kind === 'check' || s.inflight?.kind === 'hook') drop(ctx);
      break;
    case 'abort':
      s.pendingAbort = { by, reason: cmd.input.reason };
      s.ending = { final: 'aborted', by, reason: cmd.input.reason };
      preempt(ctx);
      break;
    case 'extend': {
      s.extendedMs = (s.extendedMs ?? 0) + cmd.input.duration;
      const why = cmd.input.reason || 'more observation asked for by hand';
      decide(
        ctx,
        'extended',
        by,
        `${why}: +${formatDuration(cmd.input.duration)}, stage window now ${formatDuration(windowMs(s, ctx.plan))}`,
      );
      break;
    }
    case 'dismiss':
      dismiss(ctx, by, cmd.input.reason || 'failed checks dismissed by hand');
      break;
    case 'approve':
      approve(ctx, by, cmd.input.reason || 'approved by hand');
      break;
  }
}

/**
 * The stage's gate opens. When its window already ended on a passing check, it moves on now;
 * otherwise it moves on at the end of its window like any stage.
 */
export function approve(ctx: Ctx, by: string, reason: string): void {
  const { s } = ctx;
  const index = s.stageApplied ? s.stageIndex : 0;
  s.approved = { stageIndex: index, by };
  decide(ctx, 'approved', by, `stage ${index + 1} approved: ${reason}`);
  notify(ctx, 'approved', by, `stage ${index + 1} approved: ${reason}`);
  // A deferred check waiting for its time says nothing new about a stage already healthy: the
  // person's approval moves it on now rather than at that check.
  if (s.awaitingApproval && s.checks === 'deferred' && s.inflight?.kind === 'check') drop(ctx);
  if (
    s.awaitingApproval &&
    s.state === 'progressing' &&
    !s.inflight &&
    s.lastAnalysis?.verdict === 'pass' &&
    s.observedMs >= windowMs(s, ctx.plan)
  ) {
    nextStage(ctx, `stage ${index + 1} healthy and approved by ${by}`);
  }
}

/**
 * The failed checks are set aside, and with them the data they judged: the stage's window starts
 * again on fresh data (a sequential judge would otherwise fail again on the same evidence), and the
 * stage needs its whole observation before it advances.
 */
export function dismiss(ctx: Ctx, by: string, reason: string): void {
  const { s, plan, now } = ctx;
  const cleared = s.failedChecks;
  const onFail = s.pausedOnFail;
  s.failedChecks = 0;
  s.pausedOnFail = null;
  s.passedChecks = 0;
  s.inconclusiveStreak = 0;
  s.stageStartedAt = now;
  s.observedMs = 0;
  s.observedAtCoveredCheck = 0;
  // A check in flight judges the dismissed window: drop it, and check again within half an interval
  // so the lease (at least two intervals) is renewed in time even if the dropped check had not yet.
  const dropped = s.inflight?.kind === 'check';
  if (dropped) drop(ctx);
  s.nextCheckAt = now + (dropped ? Math.ceil(plan.analysis.intervalMs / 2) : plan.analysis.intervalMs);
  if (onFail) s.state = 'progressing';
  const what = `${cleared} failed check${cleared === 1 ? '' : 's'} cleared${onFail ? ', pause on failure lifted' : ''}`;
  decide(ctx, 'dismissed', by, `${reason} (${what}; the stage's window starts again)`);
  if (onFail) notify(ctx, s.gates ? 'dismissed' : 'resumed', by, reason);
}

// Traffic writes: the splits asked of the router, and what each one's landing or refusal means.
import { SYSTEM_ACTOR } from '../../src/contract';
import type { ResolvedPlan } from '../../src/plan/schema';
import { decide, endWithStable, finish, nextOp, notify } from './context';
import type { Ctx } from './context';
import type { Effect, FailureKind, Inflight, Write } from './types';

export function stageWrite(
  plan: ResolvedPlan,
  index: number,
  by: string,
  reason: string,
  forPromote = false,
): Write {
  const weight = plan.stages[index].weight;
  return {
    purpose: 'stage',
    stageIndex: index,
    weight,
    label: `stage ${index + 1}: ${plan.canary} ${weight}%`,
    by,
    reason,
    ...(forPromote ? { forPromote } : {}),
  };
}

export function promoteWrite(plan: ResolvedPlan, by: string, reason: string): Write {
  return {
    purpose: 'promote',
    stageIndex: plan.stages.length - 1,
    weight: 0,
    label: `promote: ${plan.canary} becomes stable`,
    by,
    reason,
  };
}

export function writeEffect(ctx: Ctx, opId: number, write: Write): Effect {
  const lease = write.purpose === 'stage' ? ctx.plan.leaseTtlMs : null;
  return { type: 'write', opId, write, decidedAt: ctx.now, leaseMs: lease };
}

export function startWrite(ctx: Ctx, write: Write): void {
  const { s, now } = ctx;
  const opId = nextOp(s);
  s.inflight = { kind: 'write', opId, write, since: now, attempts: 0, lastError: null };
  ctx.fx.push(writeEffect(ctx, opId, write));
}

export function writeLanded(ctx: Ctx): void {
  const { s, plan, now } = ctx;
  const f = s.inflight as Extract<Inflight, { kind: 'write' }>;
  s.inflight = null;
  switch (f.write.purpose) {
    case 'stage': {
      s.stageIndex = f.write.stageIndex;
      s.stageApplied = true;
      s.appliedWeight = f.write.weight;
      s.stageStartedAt = now;
      s.observedMs = 0;
      s.observedAtCoveredCheck = 0;
      s.failedChecks = 0;
      s.passedChecks = 0;
      s.inconclusiveStreak = 0;
      s.nextCheckAt = now + plan.analysis.intervalMs;
      if (s.rules === 3) {
        s.carried = s.evidence ?? s.carried;
        s.evidence = undefined;
      }
      if (s.extendedMs) s.extendedMs = 0;
      if (s.pausedOnFail) {
        // Gates: a person moved the rollout on from a held pause (promote): it progresses again.
        if (s.gates && s.state === 'paused') s.state = 'progressing';
        s.pausedOnFail = null;
      }
      if (s.gates) {
        s.awaitingApproval = null;
        if (s.approved && s.approved.stageIndex !== s.stageIndex) s.approved = null;
      }
      // "Next stage" is satisfied by any move to the next stage; "to 100%" only by the promotion.
      if (s.pendingPromote && (f.write.forPromote || !s.pendingPromote.full)) s.pendingPromote = null;
      decide(ctx, 'stage_started', f.write.by, f.write.reason);
      if (s.stageIndex > 0) notify(ctx, 'stage_advanced', f.write.by, f.write.reason);
      break;
    }
    case 'promote': {
      s.stageIndex = f.write.stageIndex;
      s.stageApplied = true;
      finish(ctx, 'promoted', plan.canary, f.write.reason);
      decide(ctx, 'promoted', f.write.by, f.write.reason);
      notify(ctx, 'promoted', f.write.by, f.write.reason);
      break;
    }
    case 'stable': {
      const e = s.ending!;
      finish(ctx, e.final, plan.stable, e.reason, {
        ...(e.failure ? { failure: e.failure } : {}),
        ...(e.cancelled ? { cancelled: true } : {}),
      });
      decide(ctx, e.final, e.by, e.reason);
      notify(ctx, e.final, e.by, e.reason, e.verdict);
      break;
    }
  }
}

export function writeFailed(ctx: Ctx, kind: FailureKind, message: string): void {
  const { s } = ctx;
  const f = s.inflight as Extract<Inflight, { kind: 'write' }>;
  if (kind === 'outage') {
    // The write's own retries ran out of time: say why in status and ask again (advance re-issues).
    s.inflight = { ...f, attempts: f.attempts + 1, lastError: message, opId: nextOp(s) };
    ctx.fx.push(writeEffect(ctx, s.inflight.opId, f.write));
    return;
  }
  s.inflight = null;
  if (f.write.purpose === 'stable') {
    // The router refuses even stable-only for this agent (unknown agent or version): it routes
    // nothing of ours, so there is no canary share to take back. End, failing with the cause.
    const e = s.ending!;
    finish(ctx, e.final, ctx.plan.stable, `${e.reason}; the router refused the stable split: ${message}`, {
      failure: e.failure ?? `the router refused the split: ${message}`,
      ...(e.cancelled ? { cancelled: true } : {}),
    });
    decide(ctx, e.final, e.by, s.result!.reason);
    notify(ctx, e.final, e.by, s.result!.reason, e.verdict);
    return;
  }
  endWithStable(ctx, {
    final: 'rolled_back',
    by: SYSTEM_ACTOR,
    reason: `the router refused the split, canary withdrawn: ${message}`,
    failure: `the router refused the split: ${message}`,
  });
}

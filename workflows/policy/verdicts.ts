// Verdict rules: what a check's outcome does to the rollout (count it, pause on it, roll back, move on).
import { judgeAcrossStages, passMultiple } from '../../src/analysis/evidence';
import type { Verdict } from '../../src/analysis/types';
import { SYSTEM_ACTOR } from '../../src/contract';
import { formatDuration } from '../../src/plan/duration';
import { onFailForCheck, onFailTimeoutMs } from '../../src/plan/on-fail';
import { clearWorsening, regressions } from '../hold';
import { decide, endWithStable, holding, notify, windowMs } from './context';
import type { Ctx } from './context';
import { nextOnGrid, nextStage } from './scheduling';
import type { CheckOutcome } from './types';

export function checkDone(ctx: Ctx, outcome: CheckOutcome, leaseFailed = false): void {
  const { s, plan, now } = ctx;
  const f = s.inflight;
  s.inflight = null;
  s.nextCheckAt = s.checks === 'deferred' ? nextOnGrid(s, plan, now) : now + plan.analysis.intervalMs;
  let verdict: Verdict;
  if (outcome.metrics === 'outage') {
    // Not evidence either way, and the time since the last check with metrics is not observation.
    s.observedMs = s.observedAtCoveredCheck;
    s.covered = false;
    s.outageStreak += 1;
    s.inconclusiveStreak += 1;
    verdict = {
      verdict: 'inconclusive',
      judge: plan.analysis.judge,
      reason: `${leaseFailed ? 'lease not renewed' : 'metrics unavailable'} (not evidence): ${outcome.message}`,
      metrics: [],
    };
  } else {
    verdict = outcome.verdict;
    if (outcome.rollout && !holding(s) && f?.kind === 'check' && f.stageIndex === s.stageIndex) {
      // The activity judged the rollout: act on exactly the verdict history records.
      verdict = outcome.rollout.verdict;
      s.evidence = outcome.rollout.evidence;
    } else if (
      // Checks recorded before the activity judged the rollout have no `rollout`: judged here as
      // they were, so that their histories replay (no patch: the commands are the same). Retire this
      // branch, and with it the statistics in the workflow bundle, once no supported rollout can
      // have such a check in its history (docs/versions.md, support window).
      outcome.rollout === undefined &&
      s.rules === 3 &&
      !holding(s) &&
      verdict.judge === 'statistical' &&
      f?.kind === 'check' &&
      f.stageIndex === s.stageIndex
    ) {
      const across = judgeAcrossStages(
        verdict,
        s.carried,
        plan.analysis,
        passMultiple(plan, s.stageIndex),
        s.judgeV4,
        s.judgeV5,
      );
      verdict = across.verdict;
      s.evidence = across.evidence;
    }
    s.outageStreak = 0;
    if (outcome.coveredSince !== undefined && outcome.coveredSince > s.stageStartedAt) {
      // Time the source has no data for is not observation, whatever the clock ran through.
      s.observedMs = Math.min(s.observedMs, Math.max(0, now - outcome.coveredSince));
    }
    if (!s.covered) {
      // Coverage starts again now; nothing between the outage and this check counts.
      s.covered = true;
    }
    s.observedAtCoveredCheck = s.observedMs;
    if (verdict.verdict === 'fail') s.failedChecks += 1;
    if (verdict.verdict === 'pass') s.passedChecks += 1;
    // "Not yet" is the normal state inside a window (a sequential judge needs data); only checks that
    // extend a window past its observation time count towards the streak that pauses the rollout.
    const extending = s.observedMs >= windowMs(s, plan);
    if (verdict.verdict !== 'inconclusive') s.inconclusiveStreak = 0;
    else if (extending) s.inconclusiveStreak += 1;
  }
  s.lastAnalysis = {
    ...verdict,
    at: new Date(now).toISOString(),
    windowStart: new Date(s.stageStartedAt).toISOString(),
    failedChecks: s.failedChecks,
    inconclusiveStreak: s.inconclusiveStreak,
  };
  if (f?.kind === 'check' && f.stageIndex !== s.stageIndex) return;
  // While a pause holds, every check may fail again on the same regression: only a rollback is news.
  if (verdict.verdict === 'fail' && !holding(s)) {
    decide(
      ctx,
      'check_failed',
      SYSTEM_ACTOR,
      `check failed (${s.failedChecks}/${plan.analysis.failureLimit}): ${verdict.reason}`,
    );
  }
  if (s.pendingAbort || s.ending) return;
  if (holding(s)) {
    const worse = verdict.verdict === 'fail' ? clearWorsening(plan, s.pausedOnFail!, verdict) : null;
    if (worse) {
      endWithStable(ctx, { final: 'rolled_back', by: SYSTEM_ACTOR, reason: worse, verdict });
      return;
    }
  } else if (s.pausedOnFail) {
    if (verdict.verdict === 'fail') {
      endWithStable(ctx, {
        final: 'rolled_back',
        by: SYSTEM_ACTOR,
        reason: `canary unhealthy again while paused on a failed check: ${verdict.reason}`,
        verdict,
      });
      return;
    }
  } else if (s.failedChecks >= plan.analysis.failureLimit) {
    const failing = verdict.metrics.filter((m) => m.status === 'fail').map((m) => m.metric as string);
    if (verdict.verdict === 'fail' && onFailForCheck(plan.analysis.onFail, failing) === 'pause') {
      pauseOnFail(ctx, failing, verdict);
      return;
    }
    endWithStable(ctx, {
      final: 'rolled_back',
      by: SYSTEM_ACTOR,
      reason: `canary unhealthy: ${verdict.reason}`,
      verdict,
    });
    return;
  }
  if (s.outageStreak >= plan.analysis.inconclusiveLimit) {
    // Nobody can judge the canary: it must not keep its traffic.
    endWithStable(ctx, {
      final: 'rolled_back',
      by: SYSTEM_ACTOR,
      reason: `no metrics for ${s.outageStreak} checks in a row (${verdict.reason}); canary withdrawn, nobody can judge it`,
      verdict,
    });
    return;
  }
  if (s.pendingPromote) return;
  if (
    s.rules === 3 &&
    outcome.metrics === 'ok' &&
    verdict.judge === 'statistical' &&
    verdict.verdict === 'inconclusive'
  ) {
    // The stage extends while the deadline leaves room for the later stages' windows; past that it
    // cannot finish in time, and a canary nobody could show healthy does not keep its traffic.
    const later = plan.stages.slice(s.stageIndex + 1).reduce((sum, st) => sum + st.observeMs, 0);
    if (
      s.state === 'progressing' &&
      s.observedMs >= windowMs(s, plan) &&
      s.activeMs + later >= plan.progressDeadlineMs
    ) {
      endWithStable(ctx, {
        final: 'rolled_back',
        by: SYSTEM_ACTOR,
        reason: `stage ${s.stageIndex + 1} could not show the canary healthy in time (the progress deadline leaves too little for the later stages): ${verdict.reason}; canary withdrawn`,
        verdict,
      });
      return;
    }
  } else if (
    verdict.verdict === 'inconclusive' &&
    s.state === 'progressing' &&
    s.inconclusiveStreak >= plan.analysis.inconclusiveLimit
  ) {
    s.state = 'paused';
    const reason = `${s.inconclusiveStreak} inconclusive checks in a row (${verdict.reason}); paused for a person to decide`;
    decide(ctx, 'inconclusive_streak', SYSTEM_ACTOR, reason);
    notify(ctx, 'inconclusive_streak', SYSTEM_ACTOR, reason, verdict);
    return;
  }
  // A window ends on a passing check only: thin or missing data never moves a canary forward.
  if (s.state === 'progressing' && s.observedMs >= windowMs(s, plan) && verdict.verdict === 'pass') {
    nextStage(ctx, `stage ${s.stageIndex + 1} healthy after ${s.passedChecks} passing checks`);
  }
}

/** A failed check on metrics whose onFail is pause: a person decides, while judging goes on. */
export function pauseOnFail(ctx: Ctx, metrics: string[], verdict: Verdict): void {
  const { s } = ctx;
  const reason =
    `check failed on ${metrics.join(', ')} (onFail: pause): ${verdict.reason}; paused with the canary share kept ` +
    'and still judged (a second failed check rolls back); `dismiss` to continue, `abort` to end';
  s.state = 'paused';
  s.pausedOnFail = { at: ctx.now, metrics, reason: verdict.reason };
  if (s.gates) {
    s.pausedOnFail.regression = regressions(verdict, metrics);
    const timeout = onFailTimeoutMs(ctx.plan.analysis.onFail);
    const held =
      `check failed on ${metrics.join(', ')} (onFail: pause): ${verdict.reason}; paused with the canary share kept, ` +
      `waiting for a person ${timeout ? `for up to ${formatDuration(timeout)} (then rolled back)` : 'until the progress deadline'}; ` +
      'still judged on the data since the pause, rolled back at once only if clearly worse; ' +
      '`dismiss` to continue, `promote` to move on, `abort` to end';
    decide(ctx, 'paused_on_fail', SYSTEM_ACTOR, held);
    notify(ctx, 'paused_on_fail', SYSTEM_ACTOR, held, verdict);
    return;
  }
  decide(ctx, 'paused_on_fail', SYSTEM_ACTOR, reason);
  notify(ctx, 'paused', SYSTEM_ACTOR, reason, verdict);
}

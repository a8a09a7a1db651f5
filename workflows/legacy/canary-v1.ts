// FROZEN: the canaryRollout workflow as it ran before the control-loop rework (patch
// "control-loop-v2"). Rollouts started before that patch replay and finish on this code; it must not
// change, or their histories stop replaying (test/replay.test.ts). Delete once no such rollout runs
// (deprecatePatch first). New behaviour goes into workflows/canary.ts and workflows/policy.ts.
import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributePair } from '@temporalio/common';
import type { Activities } from '../../activities';
import type { Verdict } from '../../src/analysis/types';
import type { DesiredSplit } from '../../src/router/types';
import type { NotifyEvent, NotifyEventType } from '../../src/notify/types';
import type { ResolvedPlan } from '../../src/plan/schema';
import {
  SA,
  abortSignal,
  abortUpdate,
  pauseSignal,
  pauseUpdate,
  promoteSignal,
  promoteUpdate,
  resumeSignal,
  resumeUpdate,
  statusQuery,
  AbortInputSchema,
  PauseInputSchema,
  PromoteInputSchema,
  ResumeInputSchema,
  type RolloutResult,
  type RolloutStatus,
} from '../messages';
import {
  MAX_NOTIFY_FAILURES,
  SYSTEM_ACTOR,
  accrue,
  applyCommand,
  initialState,
  isFinal,
  percentOf,
  recordDecision,
  refusal,
  type CarriedState,
  type Command,
} from './state-v1';

export interface RolloutOptionsV1 {
  /** State carried over from the previous run (continue-as-new). */
  carried?: CarriedState;
  /** Continue as new after this many history events (tests force it low); the server's hint otherwise. */
  continueAsNewAfterEvents?: number;
}

const splitActivity = (summary: string) =>
  proxyActivities<Activities>({
    // Retried until it lands: a rollback that gives up would leave traffic on a bad canary.
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    summary,
  }).setTrafficSplit;

const analysisActivity = (intervalMs: number, summary: string) =>
  proxyActivities<Activities>({
    startToCloseTimeout: Math.max(5_000, Math.min(intervalMs, 30_000)),
    // The workflow gets control back in time for the next check: an outage is an inconclusive check.
    scheduleToCloseTimeout: Math.max(10_000, Math.min(2 * intervalMs, 120_000)),
    retry: { initialInterval: '500ms', maximumInterval: '5s' },
    summary,
  }).analyzeCanary;

const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '60s',
  // The notifiers retry on their own a bounded number of times; the activity never throws.
  retry: { maximumAttempts: 2 },
  summary: 'notify',
});

function parseOr<T>(
  schema: { safeParse(v: unknown): { success: boolean; data?: T } },
  value: unknown,
  fallback: T,
): T {
  const parsed = schema.safeParse(value ?? {});
  return parsed.success ? (parsed.data as T) : fallback;
}

export async function canaryRolloutV1(
  plan: ResolvedPlan,
  options: RolloutOptionsV1 = {},
): Promise<RolloutResult> {
  const info = workflowInfo();
  const s: CarriedState = options.carried ?? initialState(Date.now());
  const stages = plan.stages;
  const notifications: Promise<void>[] = [];

  // ---- status, details and search attributes --------------------------------------------------
  const status = (): RolloutStatus => {
    const now = Date.now();
    const pending = s.state === 'progressing' ? Math.max(0, now - s.accruedAt) : 0;
    const observeMs = stages[s.stageIndex]?.observeMs ?? 0;
    const observedMs = Math.min(observeMs, s.observedMs + pending);
    return {
      asOf: new Date(now).toISOString(),
      workflowId: info.workflowId,
      agent: plan.agent,
      stable: plan.stable,
      canary: plan.canary,
      state: s.state,
      stageIndex: s.stageIndex,
      stageCount: stages.length,
      canaryPercent: percentOf(s, plan),
      stages: stages.map((st) => ({ weight: st.weight, observeMs: st.observeMs })),
      stageStartedAt: new Date(s.stageStartedAt).toISOString(),
      observedMs,
      remainingMs: isFinal(s.state) ? 0 : Math.max(0, observeMs - observedMs),
      startedAt: new Date(s.startedAt).toISOString(),
      deadlineAt: new Date(now + Math.max(0, plan.progressDeadlineMs - s.activeMs - pending)).toISOString(),
      failedChecks: s.failedChecks,
      failureLimit: plan.analysis.failureLimit,
      inconclusiveStreak: s.inconclusiveStreak,
      lastAnalysis: s.lastAnalysis,
      decisions: s.decisions,
      notifyFailures: s.notifyFailures,
    };
  };

  // What visibility holds now (set at start by the client, or by an earlier run), to upsert only changes.
  const upserted = new Map<string, unknown>(
    info.typedSearchAttributes.getAll().map((pair) => [pair.key.name, pair.value] as const),
  );
  const syncVisibility = () => {
    const wanted: SearchAttributePair[] = [
      { key: SA.agent, value: plan.agent },
      { key: SA.state, value: s.state },
      { key: SA.percent, value: Math.round(percentOf(s, plan)) },
      { key: SA.canaryVersion, value: plan.canary },
      { key: SA.stableVersion, value: s.state === 'promoted' ? plan.canary : plan.stable },
    ];
    const changes = wanted.filter((pair) => upserted.get(pair.key.name) !== pair.value);
    if (changes.length > 0) {
      // Each upsert is a history event: only on change.
      upsertSearchAttributes(changes);
      for (const pair of changes) upserted.set(pair.key.name, pair.value);
    }
    const a = s.lastAnalysis;
    const verdictLine = a
      ? `last check ${a.at}: **${a.verdict}** — ${a.reason}\n\n` +
        a.metrics
          .map((m) => `- ${m.metric}: stable ${fmt(m.stable)} vs canary ${fmt(m.canary)} (${m.status})`)
          .join('\n')
      : 'no check yet';
    setCurrentDetails(
      `**${plan.agent}**: ${plan.stable} → ${plan.canary}\n\n` +
        `state **${s.state}**, stage ${s.stageIndex + 1}/${stages.length}, canary **${percentOf(s, plan)}%**, ` +
        `failed checks ${s.failedChecks}/${plan.analysis.failureLimit}\n\n${verdictLine}`,
    );
  };

  const sendNotification = (type: NotifyEventType, by: string, reason: string, verdict?: Verdict) => {
    if (plan.notify.length === 0) return;
    const event: NotifyEvent = {
      type,
      agent: plan.agent,
      stable: plan.stable,
      canary: plan.canary,
      workflowId: info.workflowId,
      runId: info.runId,
      stageIndex: s.stageIndex,
      stageCount: stages.length,
      percent: percentOf(s, plan),
      reason,
      by,
      at: new Date(Date.now()).toISOString(),
      ...(verdict ? { verdict } : {}),
    };
    // Not awaited by the decision that caused it: a slow channel never delays a rollback.
    notifications.push(
      notify({ event, targets: plan.notify })
        .then((failures) => {
          for (const f of failures) {
            s.notifyFailures.push({ at: event.at, event: type, target: f.target, error: f.error });
          }
          s.notifyFailures.splice(0, Math.max(0, s.notifyFailures.length - MAX_NOTIFY_FAILURES));
        })
        .catch((err) => {
          s.notifyFailures.push({ at: event.at, event: type, target: 'notify', error: String(err) });
        }),
    );
  };

  // ---- commands ---------------------------------------------------------------------------------
  const take = (cmd: Command): void => {
    applyCommand(s, plan, cmd, Date.now());
    if (cmd.kind === 'pause')
      sendNotification('paused', cmd.input.by || 'unknown', cmd.input.reason || 'paused by hand');
    if (cmd.kind === 'resume')
      sendNotification('resumed', cmd.input.by || 'unknown', cmd.input.reason || 'resumed by hand');
    syncVisibility();
  };
  const fromSignal = (cmd: Command) => {
    const why = refusal(s, cmd);
    if (why) {
      log.warn(`ignored ${cmd.kind} signal: ${why}`);
      return;
    }
    take(cmd);
  };
  const validator = (kind: Command['kind'], schema: { parse(v: unknown): unknown }) => (input: unknown) => {
    const parsed = schema.parse(input ?? {}) as Command['input'];
    const why = refusal(s, { kind, input: parsed } as Command);
    if (why) throw new Error(why);
  };
  const settled = async (kind: Command['kind']) => {
    if (kind === 'promote') await condition(() => s.pendingPromote === null || isFinal(s.state));
    if (kind === 'abort') await condition(() => isFinal(s.state));
    return status();
  };

  // Signals come from the Web UI and other tooling: never reject them silently on shape alone.
  // An abort always goes through, because stopping a canary must not depend on typing the payload right.
  setHandler(pauseSignal, (input) =>
    fromSignal({ kind: 'pause', input: parseOr(PauseInputSchema, input, {}) }),
  );
  setHandler(resumeSignal, (input) =>
    fromSignal({ kind: 'resume', input: parseOr(ResumeInputSchema, input, {}) }),
  );
  setHandler(promoteSignal, (input) =>
    fromSignal({ kind: 'promote', input: parseOr(PromoteInputSchema, input, {}) }),
  );
  setHandler(abortSignal, (input) => fromSignal({ kind: 'abort', input: lenientAbort(input) }));
  setHandler(
    pauseUpdate,
    async (input) => {
      take({ kind: 'pause', input: PauseInputSchema.parse(input ?? {}) });
      return status();
    },
    { validator: validator('pause', PauseInputSchema), description: 'Pause: freeze the observation clock' },
  );
  setHandler(
    resumeUpdate,
    async (input) => {
      take({ kind: 'resume', input: ResumeInputSchema.parse(input ?? {}) });
      return status();
    },
    { validator: validator('resume', ResumeInputSchema), description: 'Resume a paused rollout' },
  );
  setHandler(
    promoteUpdate,
    async (input) => {
      take({ kind: 'promote', input: PromoteInputSchema.parse(input ?? {}) });
      return settled('promote');
    },
    {
      validator: validator('promote', PromoteInputSchema),
      description: 'Next stage now, or {full: true} for 100%',
    },
  );
  setHandler(
    abortUpdate,
    async (input) => {
      take({ kind: 'abort', input: AbortInputSchema.parse(input ?? {}) });
      return settled('abort');
    },
    { validator: validator('abort', AbortInputSchema), description: 'Abort: all traffic back to stable' },
  );
  setHandler(statusQuery, status);

  // ---- traffic ----------------------------------------------------------------------------------
  const writeSplit = (desired: DesiredSplit, summary: string) =>
    splitActivity(summary)({ agent: plan.agent, desired });
  const canarySplit = (weight: number): DesiredSplit => ({
    stable: plan.stable,
    canary: plan.canary,
    canaryWeight: weight,
    leaseMs: plan.leaseTtlMs,
    owner: info.workflowId,
  });
  const stableOnly = (reason: string): DesiredSplit => ({
    stable: plan.stable,
    canary: null,
    canaryWeight: 0,
    leaseMs: null,
    owner: info.workflowId,
    reason,
  });

  /** Ends the rollout with all traffic on stable. Runs even when the workflow is being cancelled. */
  const backToStable = async (
    final: 'rolled_back' | 'aborted',
    by: string,
    reason: string,
    verdict?: Verdict,
  ) => {
    await CancellationScope.nonCancellable(async () => {
      await writeSplit(
        stableOnly(reason),
        `${final === 'aborted' ? 'abort' : 'rollback'}: ${plan.stable} 100%`,
      );
      accrue(s, Date.now());
      s.state = final;
      s.pendingAbort = null;
      s.pendingPromote = null;
      recordDecision(s, plan, Date.now(), { action: final, by, reason });
      syncVisibility();
      sendNotification(final, by, reason, verdict);
      await Promise.all(notifications);
    });
    return { state: final, stable: plan.stable, reason } satisfies RolloutResult;
  };

  const promoteFully = async (by: string, reason: string): Promise<RolloutResult> => {
    await writeSplit(
      { stable: plan.canary, canary: null, canaryWeight: 0, leaseMs: null, owner: info.workflowId, reason },
      `promote: ${plan.canary} becomes stable`,
    );
    accrue(s, Date.now());
    s.stageIndex = stages.length - 1;
    s.state = 'promoted';
    s.pendingPromote = null;
    recordDecision(s, plan, Date.now(), { action: 'promoted', by, reason });
    syncVisibility();
    sendNotification('promoted', by, reason);
    await Promise.all(notifications);
    return { state: 'promoted', stable: plan.canary, reason };
  };

  const startStage = async (index: number, by: string, reason: string) => {
    // Stage numbers move only after the split is confirmed, so status never claims traffic it lacks.
    await writeSplit(
      canarySplit(stages[index].weight),
      `stage ${index + 1}: ${plan.canary} ${stages[index].weight}%`,
    );
    const now = Date.now();
    accrue(s, now);
    s.stageIndex = index;
    s.stageStartedAt = now;
    s.observedMs = 0;
    s.failedChecks = 0;
    s.passedChecks = 0;
    s.inconclusiveStreak = 0;
    recordDecision(s, plan, now, { action: 'stage_started', by, reason });
    syncVisibility();
    if (index > 0) sendNotification('stage_advanced', by, reason);
  };

  const check = async (): Promise<Verdict> => {
    const now = Date.now();
    const weight = stages[s.stageIndex].weight;
    // Renew the lease first: if checks stop (workflow terminated), the router drops the canary itself.
    await writeSplit(canarySplit(weight), `renew lease: ${plan.canary} ${weight}%`);
    let verdict: Verdict;
    try {
      const result = await analysisActivity(
        plan.analysis.intervalMs,
        `check stage ${s.stageIndex + 1} at ${weight}%`,
      )({
        agent: plan.agent,
        stable: plan.stable,
        canary: plan.canary,
        since: s.stageStartedAt,
        until: now,
        analysis: plan.analysis,
      });
      verdict = result.verdict;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      // An outage of the metrics source is not evidence either way.
      verdict = {
        verdict: 'inconclusive',
        judge: plan.analysis.judge,
        reason: `metrics unavailable: ${err.cause?.message ?? err.message}`,
        metrics: [],
      };
    }
    if (verdict.verdict === 'fail') s.failedChecks += 1;
    if (verdict.verdict === 'pass') s.passedChecks += 1;
    // "Not yet" is the normal state inside a window (a sequential judge needs data); only checks that
    // extend a window past its observation time count towards the streak that pauses the rollout.
    accrue(s, Date.now());
    const extending = s.observedMs >= stages[s.stageIndex].observeMs;
    if (verdict.verdict !== 'inconclusive') s.inconclusiveStreak = 0;
    else if (extending) s.inconclusiveStreak += 1;
    s.lastAnalysis = {
      ...verdict,
      at: new Date(Date.now()).toISOString(),
      windowStart: new Date(s.stageStartedAt).toISOString(),
      failedChecks: s.failedChecks,
      inconclusiveStreak: s.inconclusiveStreak,
    };
    if (verdict.verdict === 'fail') {
      recordDecision(s, plan, Date.now(), {
        action: 'check_failed',
        by: SYSTEM_ACTOR,
        reason: `check failed (${s.failedChecks}/${plan.analysis.failureLimit}): ${verdict.reason}`,
      });
    }
    syncVisibility();
    return verdict;
  };

  const maybeContinueAsNew = async () => {
    const limit = options.continueAsNewAfterEvents;
    const suggested =
      workflowInfo().continueAsNewSuggested || (limit !== undefined && workflowInfo().historyLength >= limit);
    if (!suggested) return;
    await Promise.all(notifications);
    await condition(allHandlersFinished);
    accrue(s, Date.now());
    log.info('continuing as new', { historyLength: workflowInfo().historyLength });
    await continueAsNew(plan, { ...options, carried: s });
  };

  // ---- main loop --------------------------------------------------------------------------------
  try {
    if (!options.carried) {
      recordDecision(s, plan, Date.now(), { action: 'started', by: SYSTEM_ACTOR, reason: 'rollout started' });
      sendNotification('started', SYSTEM_ACTOR, `rolling out ${plan.canary} over ${stages.length} stages`);
      await startStage(0, SYSTEM_ACTOR, `stage 1: ${stages[0].weight}%`);
    } else {
      // The split of the current stage was confirmed before continuing as new; renew it at once.
      syncVisibility();
    }
    let nextCheckAt = Date.now() + plan.analysis.intervalMs;

    for (;;) {
      if (s.pendingAbort) {
        return await backToStable('aborted', s.pendingAbort.by, s.pendingAbort.reason);
      }
      if (s.pendingPromote) {
        const p = s.pendingPromote;
        const next = s.stageIndex + 1;
        if (p.full || stages[next].weight >= 100) return await promoteFully(p.by, p.reason);
        await startStage(next, p.by, p.reason);
        s.pendingPromote = null;
        nextCheckAt = Date.now() + plan.analysis.intervalMs;
        continue;
      }
      accrue(s, Date.now());
      if (s.activeMs >= plan.progressDeadlineMs) {
        return await backToStable(
          'rolled_back',
          SYSTEM_ACTOR,
          `progress deadline exceeded (${Math.round(plan.progressDeadlineMs / 1000)}s)`,
        );
      }

      const stage = stages[s.stageIndex];
      const windowDone = s.state === 'progressing' && s.observedMs >= stage.observeMs;
      const now = Date.now();
      if (now >= nextCheckAt || windowDone) {
        const verdict = await check();
        nextCheckAt = Date.now() + plan.analysis.intervalMs;
        if (s.pendingAbort || s.pendingPromote) continue;
        if (s.failedChecks >= plan.analysis.failureLimit) {
          return await backToStable(
            'rolled_back',
            SYSTEM_ACTOR,
            `canary unhealthy: ${verdict.reason}`,
            verdict,
          );
        }
        if (
          verdict.verdict === 'inconclusive' &&
          s.state === 'progressing' &&
          s.inconclusiveStreak >= plan.analysis.inconclusiveLimit
        ) {
          accrue(s, Date.now());
          s.state = 'paused';
          const reason = `${s.inconclusiveStreak} inconclusive checks in a row (${verdict.reason}); paused for a person to decide`;
          recordDecision(s, plan, Date.now(), { action: 'inconclusive_streak', by: SYSTEM_ACTOR, reason });
          syncVisibility();
          sendNotification('inconclusive_streak', SYSTEM_ACTOR, reason, verdict);
        }
        accrue(s, Date.now());
        // A window ends on a passing check only: thin or missing data never moves a canary forward.
        if (s.state === 'progressing' && s.observedMs >= stage.observeMs && verdict.verdict === 'pass') {
          const next = s.stageIndex + 1;
          if (stages[next].weight >= 100) {
            return await promoteFully(SYSTEM_ACTOR, `all ${stages.length - 1} stages healthy`);
          }
          await startStage(
            next,
            SYSTEM_ACTOR,
            `stage ${s.stageIndex + 1} healthy after ${s.passedChecks} passing checks`,
          );
          nextCheckAt = Date.now() + plan.analysis.intervalMs;
        }
        await maybeContinueAsNew();
        continue;
      }

      // Sleep until the next check, the end of the observation window, or a command.
      const untilCheck = nextCheckAt - now;
      const untilWindow = s.state === 'progressing' ? stage.observeMs - s.observedMs : Infinity;
      const untilDeadline = s.state === 'progressing' ? plan.progressDeadlineMs - s.activeMs : Infinity;
      const wait = Math.max(1, Math.min(untilCheck, untilWindow, untilDeadline));
      const stateAtSleep = s.state;
      await condition(
        () => s.pendingAbort !== null || s.pendingPromote !== null || s.state !== stateAtSleep,
        wait,
        { summary: `next check in ${Math.round(wait / 1000)}s` },
      );
    }
  } catch (err) {
    if (isFinal(s.state)) throw err;
    if (isCancellation(err)) {
      // Cancelled from the Web UI or `temporal workflow cancel`: traffic still goes back to stable.
      await backToStable('aborted', 'cancel', 'workflow cancelled');
      throw err;
    }
    if (err instanceof ActivityFailure) {
      // Only non-retryable failures get here (the router refused the split: unknown agent or version).
      await backToStable(
        'rolled_back',
        SYSTEM_ACTOR,
        `router refused the split: ${err.cause?.message ?? err.message}`,
      );
    }
    throw err;
  }
}

function lenientAbort(input: unknown): { reason: string; by?: string } {
  const parsed = AbortInputSchema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const raw = (typeof input === 'object' && input !== null ? input : {}) as {
    reason?: unknown;
    by?: unknown;
  };
  return {
    reason:
      typeof raw.reason === 'string' && raw.reason
        ? raw.reason.slice(0, 2000)
        : 'aborted by signal (no reason given)',
    by: typeof raw.by === 'string' ? raw.by.slice(0, 200) : undefined,
  };
}

function fmt(v: number | null): string {
  if (v === null) return 'n/a';
  return Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}

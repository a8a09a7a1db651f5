// The canaryRollout workflow: a small interpreter of the pure policy in ./policy.ts. It turns
// Signals, Updates, cancellation, timers and activity outcomes into policy events, and carries out
// the effects the policy returns (traffic writes, checks, notifications, the end). Deterministic: all
// I/O is in activities; the judge runs in an activity too, so its verdicts are in history.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributePair } from '@temporalio/common';
import { z } from 'zod';
import type { Activities } from '../activities';
/** Mirrors BACKEND_UNAVAILABLE in activities/index.ts (workflow code imports activities by type only). */
const BACKEND_UNAVAILABLE = 'BackendUnavailable';
import type { NotifyEvent } from '../src/notify/types';
import { ROLLOUT_EVENT_KEY, type RolloutEvent } from '../src/temporal/rollout-events';
import { hookBudgetMs } from '../src/plan/hook-budget';
import { PlanError, planForWorkflow } from '../src/plan/resolve';
import { plainReason } from '../src/ui/plain';
import type { ResolvedPlan } from '../src/plan/schema';
import type { DesiredSplit } from '../src/router/types';
import { canaryRolloutV1, type RolloutOptionsV1 } from './legacy/canary-v1';
import {
  SA,
  AbortInputSchema,
  ApproveInputSchema,
  DismissInputSchema,
  ExtendInputSchema,
  PauseInputSchema,
  PromoteInputSchema,
  ResumeInputSchema,
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  dismissSignal,
  dismissUpdate,
  extendSignal,
  extendUpdate,
  pauseSignal,
  pauseUpdate,
  promoteSignal,
  promoteUpdate,
  resumeSignal,
  resumeUpdate,
  statusQuery,
  isFinal,
  ROLLED_BACK_FAILURE,
  type Decision,
  type RolloutResult,
  type RolloutStatus,
} from './messages';
import {
  applying,
  holdDueAt,
  initialState,
  percentOf,
  recordNotifyFailures,
  refusal,
  settled,
  step,
  upgradeCarried,
  windowMs,
  type Command,
  type Effect,
  type FailureKind,
  type PolicyEvent,
  type PolicyState,
} from './policy';

/** Rollouts started before this patch run the frozen code in ./legacy until they end. */
export const CONTROL_LOOP_PATCH = 'control-loop-v2';
/** Rollouts started after this patch hand each check to its activity with the time it is due. */
export const DEFERRED_CHECKS_PATCH = 'deferred-checks';
/**
 * Rollouts started after this patch have gates (docs/gates.md): a pause on a failed check holds for a
 * person, approval gates, the plan's hooks. Older ones keep "a second failed check rolls back".
 */
export const GATES_PATCH = 'gates-v1';

/**
 * Rollouts whose plan has a shadow stage (docs/shadow.md) mirror in it: the stage's split and its
 * lease renewals carry `shadow`. Checked only for such plans, so no earlier history meets it.
 */
export const SHADOW_PATCH = 'shadow-v1';

/** Options a client may pass as the workflow's second argument; validated like the plan. */
const RolloutOptionsSchema = z
  .object({
    /** State carried over from the previous run (continue-as-new); our own, but still checked. */
    carried: z
      .object({ version: z.union([z.literal(1), z.literal(2)]), stageIndex: z.number().int().min(0) })
      .passthrough()
      .optional(),
    /** Continue as new after this many history events (tests force it low); the server's hint otherwise. */
    continueAsNewAfterEvents: z.number().int().min(10).max(50_000).optional(),
    /**
     * End in Temporal's terms of the outcome (docs/web-ui.md): rolled back as Failed, aborted as
     * Canceled, promoted as Completed. Set by agent-canary's clients; others get Completed always.
     */
    outcomeStatus: z.boolean().optional(),
    /** Set by `retry`: this run starts again a rollout that ended; recorded in the first decision. */
    retry: z
      .object({
        by: z.string().min(1).max(200),
        reason: z.string().min(1).max(2000),
        previousRunId: z.string().min(1).max(200),
      })
      .strict()
      .optional(),
  })
  .strict();
export type RolloutOptions = z.infer<typeof RolloutOptionsSchema>;

// A write is retried inside one activity for a bounded time, then handed back so status can say what
// it waits for; the workflow asks again at once. Retry intervals stay short so traffic moves within
// a second of the router coming back.
const WRITE_BUDGET_MS = 5_000;
const writeActivity = (summary: string) =>
  proxyActivities<Activities>({
    startToCloseTimeout: '5s',
    scheduleToCloseTimeout: WRITE_BUDGET_MS,
    retry: { initialInterval: '100ms', backoffCoefficient: 2, maximumInterval: '500ms' },
    // Dropped writes are fenced by decidedAt at the router: no need to wait for their cancellation.
    cancellationType: ActivityCancellationType.TRY_CANCEL,
    summary,
  }).setTrafficSplit;

/** A deferred check waits in the activity until it is due: its timeouts start after that wait. */
const checkActivity = (intervalMs: number, summary: string, waitMs = 0) =>
  proxyActivities<Activities>({
    // The activity answers an unreachable metrics source as an outage itself, within its own timeouts.
    startToCloseTimeout: waitMs + Math.max(5_000, Math.min(intervalMs, 20_000)),
    scheduleToCloseTimeout: waitMs + Math.max(10_000, Math.min(2 * intervalMs, 30_000)),
    retry: { initialInterval: '100ms', backoffCoefficient: 2, maximumInterval: '500ms' },
    cancellationType: ActivityCancellationType.TRY_CANCEL,
    summary,
  }).checkCanary;

/** Rollouts started with outcomeStatus end as Failed/Canceled (see the end of run) from this patch on. */
export const OUTCOME_STATUS_PATCH = 'outcome-status';
/** How long an aborted run waits for its own cancel request before it completes instead. */
const OWN_CANCEL_WAIT_MS = 30_000;
const endingActivity = proxyActivities<Activities>({
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', maximumInterval: '2s' },
  summary: 'close as Canceled (aborted)',
});

/** Gate hooks: the activity allows every hook its retries (src/hooks.ts hookBudgetMs). */
const hooksActivity = (budgetMs: number, summary: string) =>
  proxyActivities<Activities>({
    startToCloseTimeout: budgetMs + 5_000,
    scheduleToCloseTimeout: 2 * budgetMs + 15_000,
    retry: { initialInterval: '500ms', maximumAttempts: 2 },
    cancellationType: ActivityCancellationType.TRY_CANCEL,
    summary,
  }).callHooks;

const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '60s',
  // The notifiers retry on their own a bounded number of times; the activity never throws.
  retry: { maximumAttempts: 2 },
  summary: 'notify',
});

export async function canaryRollout(input: unknown, rawOptions: unknown = {}): Promise<RolloutResult> {
  if (!patched(CONTROL_LOOP_PATCH)) {
    return canaryRolloutV1(input as ResolvedPlan, (rawOptions ?? {}) as RolloutOptionsV1);
  }
  let plan: ResolvedPlan;
  let options: RolloutOptions;
  try {
    plan = planForWorkflow(input);
    const parsed = RolloutOptionsSchema.safeParse(rawOptions ?? {});
    if (!parsed.success) {
      throw new PlanError(
        parsed.error.issues.map((i) => ({ field: `options.${i.path.join('.')}`, message: i.message })),
      );
    }
    options = parsed.data;
  } catch (err) {
    // Another client can start the workflow with anything: fail at once, saying what is wrong.
    if (err instanceof PlanError) throw ApplicationFailure.nonRetryable(err.message, 'PlanError');
    throw err;
  }
  return run(plan, options);
}

async function run(plan: ResolvedPlan, options: RolloutOptions): Promise<RolloutResult> {
  const info = workflowInfo();
  const carried = options.carried as Record<string, unknown> | undefined;
  // judge-v3: evidence carried across stages, graduated passes (policy rules 3); older runs keep theirs.
  let s: PolicyState = carried
    ? upgradeCarried(carried, plan, Date.now())
    : initialState(
        Date.now(),
        patched('judge-v3') ? 3 : undefined,
        patched(DEFERRED_CHECKS_PATCH) ? 'deferred' : undefined,
        patched(GATES_PATCH) ? 1 : undefined,
      );
  // judge-v4: conversations as the unit, incidents on both versions held (docs/judge.md).
  if (!carried && s.rules === 3 && patched('judge-v4')) s.judgeV4 = true;
  const stages = plan.stages;
  // A plan with a shadow stage cannot have run before the patch (its schema refused weight 0).
  const mirroring = stages[0]?.shadow !== undefined && patched(SHADOW_PATCH);
  /** The split's `shadow` field for a stage: its share while it is the shadow stage, else nothing. */
  const shadowOf = (stageIndex: number) => {
    const share = mirroring ? stages[stageIndex]?.shadow : undefined;
    return share !== undefined ? { shadow: share } : {};
  };
  const queue: PolicyEvent[] = [];
  const effects: Effect[] = [];
  const scopes = new Map<number, CancellationScope>();
  const notifications: Promise<void>[] = [];
  let wakeAt: number | null = null;
  let finished: Extract<Effect, { type: 'finish' }> | null = null;

  const feed = (event: PolicyEvent) => {
    const before = s.decisions.at(-1);
    const r = step(s, plan, event, Date.now());
    s = r.state;
    wakeAt = r.wakeAt;
    effects.push(...r.effects);
    logDecisions(before);
  };

  // Each new decision as a log entry, which `dev` and `worker` print as a line for people
  // (src/temporal/rollout-events.ts). Not a command: histories replay unchanged; skipped on replay.
  const logDecisions = (before: Decision | undefined) => {
    const from = before === undefined ? 0 : s.decisions.lastIndexOf(before) + 1;
    if (before !== undefined && from === 0) return;
    for (const d of s.decisions.slice(from)) {
      const rolloutEvent: RolloutEvent = {
        ...d,
        agent: plan.agent,
        stable: plan.stable,
        canary: plan.canary,
        stageCount: stages.length,
        workflowId: info.workflowId,
      };
      log.info(`rollout ${d.action}`, { [ROLLOUT_EVENT_KEY]: rolloutEvent });
    }
  };

  // ---- status, details and search attributes --------------------------------------------------
  const status = (): RolloutStatus => {
    const now = Date.now();
    const progressing = s.state === 'progressing';
    const pending = progressing ? Math.max(0, now - s.accruedAt) : 0;
    const observeMs = windowMs(s, plan);
    const counting = progressing && s.stageApplied && s.covered;
    const observedMs = Math.min(observeMs, s.observedMs + (counting ? pending : 0));
    const write = applying(s);
    return {
      asOf: new Date(now).toISOString(),
      workflowId: info.workflowId,
      agent: plan.agent,
      stable: plan.stable,
      canary: plan.canary,
      state: s.state,
      stageIndex: s.stageIndex,
      stageCount: stages.length,
      canaryPercent: percentOf(s),
      stages: stages.map((st) => ({
        weight: st.weight,
        observeMs: st.observeMs,
        ...(st.shadow !== undefined ? { shadow: st.shadow } : {}),
      })),
      stageStartedAt: new Date(s.stageStartedAt).toISOString(),
      observedMs,
      remainingMs: isFinal(s.state) ? 0 : Math.max(0, observeMs - observedMs),
      observing: counting,
      startedAt: new Date(s.startedAt).toISOString(),
      deadlineAt: new Date(now + Math.max(0, plan.progressDeadlineMs - s.activeMs - pending)).toISOString(),
      failedChecks: s.failedChecks,
      failureLimit: plan.analysis.failureLimit,
      inconclusiveStreak: s.inconclusiveStreak,
      lastAnalysis: s.lastAnalysis,
      decisions: s.decisions,
      notifyFailures: s.notifyFailures,
      ...(s.extendedMs ? { extendedMs: s.extendedMs } : {}),
      ...(s.pausedOnFail
        ? {
            pausedOnFail: {
              at: new Date(s.pausedOnFail.at).toISOString(),
              metrics: s.pausedOnFail.metrics,
              reason: s.pausedOnFail.reason,
              ...(s.gates ? { holds: true } : {}),
              ...(holdDueAt(s, plan) !== null ? { until: new Date(holdDueAt(s, plan)!).toISOString() } : {}),
            },
          }
        : {}),
      ...(s.gates && stages[s.stageIndex]?.approval && !isFinal(s.state)
        ? {
            approval: {
              stageIndex: s.stageIndex,
              approvedBy: s.approved?.stageIndex === s.stageIndex ? s.approved.by : null,
              waitingSince: s.awaitingApproval ? new Date(s.awaitingApproval).toISOString() : null,
            },
          }
        : {}),
      ...(write
        ? {
            applying: {
              what: write.write.label,
              since: new Date(write.since).toISOString(),
              attempts: write.attempts,
              lastError: write.lastError,
            },
          }
        : {}),
      ...(s.ending && !isFinal(s.state)
        ? { ending: { state: s.ending.final, reason: s.ending.reason } }
        : {}),
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
      { key: SA.percent, value: Math.round(percentOf(s)) },
      { key: SA.canaryVersion, value: plan.canary },
      { key: SA.stableVersion, value: s.state === 'promoted' ? plan.canary : plan.stable },
    ];
    const changes = wanted.filter((pair) => upserted.get(pair.key.name) !== pair.value);
    if (changes.length > 0) {
      // Each upsert is a history event: only on change.
      upsertSearchAttributes(changes);
      for (const pair of changes) upserted.set(pair.key.name, pair.value);
    }
    setCurrentDetails(currentDetails(plan, s));
  };

  // ---- commands ---------------------------------------------------------------------------------
  const command = (cmd: Command) => queue.push({ type: 'command', command: cmd });
  const fromSignal = (cmd: Command) => {
    const why = refusal(s, cmd, plan);
    if (why) {
      log.warn(`ignored ${cmd.kind} signal: ${why}`);
      return;
    }
    command(cmd);
  };
  const validator = (kind: Command['kind'], schema: { parse(v: unknown): unknown }) => (input: unknown) => {
    const parsed = schema.parse(input ?? {}) as Command['input'];
    const why = refusal(s, { kind, input: parsed } as Command, plan);
    if (why) throw new Error(why);
  };
  const viaUpdate = async (cmd: Command) => {
    // Taken at once, in this activation: the main loop is never in the way of a command. The tick
    // wakes the loop, which may be waiting on an operation the command just dropped, to carry out
    // the command's effects now.
    feed({ type: 'command', command: cmd });
    queue.push({ type: 'tick' });
    await condition(() => settled(s, cmd.kind));
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
  // An extend without a valid duration has no meaning to default to: it is logged and ignored.
  setHandler(extendSignal, (input) => {
    const parsed = ExtendInputSchema.safeParse(input ?? {});
    if (parsed.success) fromSignal({ kind: 'extend', input: parsed.data });
    else
      log.warn(
        `ignored extend signal: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
  });
  setHandler(dismissSignal, (input) =>
    fromSignal({ kind: 'dismiss', input: parseOr(DismissInputSchema, input, {}) }),
  );
  setHandler(approveSignal, (input) =>
    fromSignal({ kind: 'approve', input: parseOr(ApproveInputSchema, input, {}) }),
  );
  setHandler(
    approveUpdate,
    (input) => viaUpdate({ kind: 'approve', input: ApproveInputSchema.parse(input ?? {}) }),
    {
      validator: validator('approve', ApproveInputSchema),
      description: 'Open the current stage\'s approval gate, e.g. {"by": "me", "reason": "looked at it"}',
    },
  );
  setHandler(
    pauseUpdate,
    (input) => viaUpdate({ kind: 'pause', input: PauseInputSchema.parse(input ?? {}) }),
    {
      validator: validator('pause', PauseInputSchema),
      description: 'Pause: freeze the observation clock (checks go on; a clear failure still rolls back)',
    },
  );
  setHandler(
    resumeUpdate,
    (input) => viaUpdate({ kind: 'resume', input: ResumeInputSchema.parse(input ?? {}) }),
    { validator: validator('resume', ResumeInputSchema), description: 'Resume a paused rollout' },
  );
  setHandler(
    promoteUpdate,
    (input) => viaUpdate({ kind: 'promote', input: PromoteInputSchema.parse(input ?? {}) }),
    {
      validator: validator('promote', PromoteInputSchema),
      description: 'Next stage now, or {"full": true} for 100%. Answers once the new split is written.',
    },
  );
  setHandler(
    abortUpdate,
    (input) => viaUpdate({ kind: 'abort', input: AbortInputSchema.parse(input ?? {}) }),
    {
      validator: validator('abort', AbortInputSchema),
      description: 'Abort: all traffic back to stable, e.g. {"reason": "bad answers", "by": "me"}',
    },
  );
  setHandler(
    extendUpdate,
    (input) => viaUpdate({ kind: 'extend', input: ExtendInputSchema.parse(input ?? {}) }),
    {
      validator: validator('extend', ExtendInputSchema),
      description:
        'More observation for the current stage, e.g. {"duration": "30m", "reason": "why", "by": "me"}',
    },
  );
  setHandler(
    dismissUpdate,
    (input) => viaUpdate({ kind: 'dismiss', input: DismissInputSchema.parse(input ?? {}) }),
    {
      validator: validator('dismiss', DismissInputSchema),
      description: "Clear the stage's failed checks (and a pause on failure) and go on, judging fresh data",
    },
  );
  setHandler(statusQuery, status);

  // ---- effects ----------------------------------------------------------------------------------
  const desiredFor = (e: Extract<Effect, { type: 'write' }>): DesiredSplit => {
    const base = { owner: info.workflowId, decidedAt: e.decidedAt, reason: e.write.reason };
    if (e.write.purpose === 'stage') {
      return {
        ...base,
        stable: plan.stable,
        canary: plan.canary,
        canaryWeight: e.write.weight,
        leaseMs: e.leaseMs,
        ...(plan.testRoutes ? { testRoutes: plan.testRoutes } : {}),
        ...shadowOf(e.write.stageIndex),
      };
    }
    const stable = e.write.purpose === 'promote' ? plan.canary : plan.stable;
    return { ...base, stable, canary: null, canaryWeight: 0, leaseMs: null };
  };

  /** Runs an operation in its own scope, so the policy can drop it; its outcome becomes an event. */
  const launch = (opId: number, body: () => Promise<PolicyEvent>) => {
    // A child of the main loop's non-cancellable scope: workflow cancellation does not reach it (the
    // policy decides what to drop), scope.cancel() does.
    const scope = new CancellationScope({ cancellable: true });
    scopes.set(opId, scope);
    scope
      .run(body)
      .then(
        (event) => queue.push(event),
        (err) => {
          if (!scopes.has(opId) && isCancellation(err)) return; // dropped by the policy
          queue.push(failureEvent(opId, err));
        },
      )
      .finally(() => scopes.delete(opId));
  };

  const carryOut = (e: Effect) => {
    switch (e.type) {
      case 'write':
        launch(e.opId, async () => {
          await writeActivity(e.write.label)({ agent: plan.agent, desired: desiredFor(e) });
          return { type: 'write_done', opId: e.opId };
        });
        break;
      case 'check':
        launch(e.opId, async () => {
          const outcome = await checkActivity(
            plan.analysis.intervalMs,
            `check stage ${e.stageIndex + 1} at ${e.weight}%`,
            e.at === undefined ? 0 : Math.max(0, e.at - Date.now()),
          )({
            agent: plan.agent,
            stable: plan.stable,
            canary: plan.canary,
            since: e.since,
            until: e.until,
            ...(e.at === undefined ? {} : { at: e.at }),
            analysis: plan.analysis,
            ...(s.judgeV4 ? { judgeVersion: 4 as const } : {}),
            ...(e.rollout ? { rollout: e.rollout } : {}),
            lease: {
              stable: plan.stable,
              canary: plan.canary,
              canaryWeight: e.weight,
              leaseMs: plan.leaseTtlMs,
              owner: info.workflowId,
              decidedAt: Date.now(),
              // A renewal carries the test routes too: the split is written whole each time.
              ...(plan.testRoutes ? { testRoutes: plan.testRoutes } : {}),
              ...shadowOf(e.stageIndex),
            },
          });
          return { type: 'check_done', opId: e.opId, outcome };
        });
        break;
      case 'drop': {
        const scope = scopes.get(e.opId);
        scopes.delete(e.opId);
        scope?.cancel();
        break;
      }
      case 'notify':
        sendNotification(e);
        break;
      case 'hook':
        runHooks(e);
        break;
      case 'finish':
        finished = e;
        break;
    }
  };

  const sendNotification = (e: Extract<Effect, { type: 'notify' }>) => {
    const event: NotifyEvent = {
      type: e.event,
      agent: plan.agent,
      stable: plan.stable,
      canary: plan.canary,
      workflowId: info.workflowId,
      runId: info.runId,
      stageIndex: s.stageIndex,
      stageCount: stages.length,
      percent: percentOf(s),
      reason: e.reason,
      by: e.by,
      at: new Date(Date.now()).toISOString(),
      ...(e.verdict ? { verdict: e.verdict } : {}),
    };
    // Not awaited by the decision that caused it: a slow channel never delays a rollback.
    notifications.push(
      CancellationScope.nonCancellable(() => notify({ event, targets: plan.notify })).then(
        (failures) =>
          recordNotifyFailures(
            s,
            failures.map((f) => ({ at: event.at, event: e.event, target: f.target, error: f.error })),
          ),
        (err) =>
          recordNotifyFailures(s, [
            { at: event.at, event: e.event, target: 'notify', error: String((err as Error).message) },
          ]),
      ),
    );
  };

  const hookCall = (e: Extract<Effect, { type: 'hook' }>) => ({
    hooks: plan.hooks ?? [],
    call: {
      type: e.hook,
      agent: plan.agent,
      stable: plan.stable,
      canary: plan.canary,
      workflowId: info.workflowId,
      stageIndex: e.stageIndex,
      weight: e.weight,
      reason: e.reason,
      at: new Date(Date.now()).toISOString(),
    },
  });
  const runHooks = (e: Extract<Effect, { type: 'hook' }>) => {
    const budget = Math.max(
      1_000,
      ...(plan.hooks ?? []).filter((h) => h.type === e.hook).map((h) => hookBudgetMs(h)),
    );
    const call = hooksActivity(budget, `${e.hook} hooks`);
    if (e.opId > 0) {
      launch(e.opId, async () => {
        const r = await call(hookCall(e));
        return { type: 'hook_done', opId: e.opId, ok: r.ok, reason: r.reason };
      });
      return;
    }
    // Told, not asked (post-rollout, rollback): awaited before the run ends, like notifications.
    const at = new Date(Date.now()).toISOString();
    const event = `hook ${e.hook}`;
    notifications.push(
      CancellationScope.nonCancellable(() => call(hookCall(e))).then(
        (r) =>
          recordNotifyFailures(
            s,
            r.failures.map((f) => ({ at, event, target: f.hook, error: f.error })),
          ),
        (err) =>
          recordNotifyFailures(s, [{ at, event, target: 'hooks', error: String((err as Error).message) }]),
      ),
    );
  };

  const drain = () => {
    while (effects.length > 0) carryOut(effects.shift()!);
    syncVisibility();
  };

  /** A deferred check waiting for its time: the only operation a new run can take over as it is. */
  const waitingCheck = () => s.checks === 'deferred' && s.inflight?.kind === 'check';
  const maybeContinueAsNew = async () => {
    if ((s.inflight && !waitingCheck()) || s.ending || s.pendingPromote || queue.length > 0) return;
    const limit = options.continueAsNewAfterEvents;
    const suggested =
      workflowInfo().continueAsNewSuggested || (limit !== undefined && workflowInfo().historyLength >= limit);
    if (!suggested) return;
    await Promise.all(notifications);
    await condition(allHandlersFinished);
    if ((s.inflight && !waitingCheck()) || s.ending || queue.length > 0) return;
    if (s.inflight) {
      feed({ type: 'suspend' });
      drain();
    }
    log.info('continuing as new', { historyLength: workflowInfo().historyLength });
    await continueAsNew<typeof canaryRollout>(plan, { ...options, carried: s as never });
  };

  // ---- main loop --------------------------------------------------------------------------------
  // Cancelled from the Web UI or `temporal workflow cancel`: an abort like any other, so traffic goes
  // back to stable first; the loop itself runs shielded and ends the workflow as cancelled after.
  let cancellation: unknown = null;
  CancellationScope.current().cancelRequested.catch((err: unknown) => {
    cancellation = err;
    queue.push({ type: 'cancelled' });
  });
  await CancellationScope.nonCancellable(async () => {
    feed(
      carried ? { type: 'continued' } : { type: 'start', ...(options.retry ? { retry: options.retry } : {}) },
    );
    drain();
    while (!finished) {
      if (queue.length === 0) {
        const wait = wakeAt === null ? null : Math.max(1, wakeAt - Date.now());
        const woken =
          wait === null
            ? await condition(() => queue.length > 0)
            : await condition(() => queue.length > 0, wait, {
                summary: `next check in ${Math.round(wait / 1000)}s`,
              });
        if (!woken) queue.push({ type: 'tick' });
      }
      while (queue.length > 0 && !finished) {
        feed(queue.shift()!);
        drain();
      }
      if (!finished && (wakeAt !== null || waitingCheck())) await maybeContinueAsNew();
    }
    await Promise.all(notifications);
    await condition(allHandlersFinished);
  });

  const end = finished as unknown as Extract<Effect, { type: 'finish' }>;
  if (end.cancelled && cancellation) throw cancellation;
  if (end.failure) throw ApplicationFailure.nonRetryable(end.failure, 'RolloutConfigError');
  if (!options.outcomeStatus || end.result.state === 'promoted' || !patched(OUTCOME_STATUS_PATCH)) {
    return end.result;
  }
  if (end.result.state === 'rolled_back') {
    const failure = ApplicationFailure.create({
      type: ROLLED_BACK_FAILURE,
      message: `rolled back: ${plainReason(end.result.reason)}`,
      nonRetryable: true,
      details: [end.result],
    });
    // A decision, not a crash: the Web UI's Result box shows the reason, not the worker's file paths.
    failure.stack = '';
    throw failure;
  }
  // Aborted: Temporal closes a run as Canceled only on a cancel request, and takes none from the
  // workflow itself; an activity sends it. Traffic is on stable already, so nothing waits on this.
  await CancellationScope.nonCancellable(async () => {
    if (!cancellation) await endingActivity.requestOwnCancellation();
    await condition(() => cancellation !== null, OWN_CANCEL_WAIT_MS);
  }).catch((err: unknown) => log.warn(`could not close as Canceled: ${String(err)}`));
  if (cancellation) throw cancellation;
  return end.result;
}

/** An operation's failure as the policy sees it: a configuration error, or an outage to wait out. */
function failureEvent(opId: number, err: unknown): PolicyEvent {
  const kind: FailureKind = isConfigError(err) ? 'config' : 'outage';
  return { type: 'op_failed', opId, kind, message: failureMessage(err) };
}

function isConfigError(err: unknown): boolean {
  if (!(err instanceof ActivityFailure)) return false;
  const cause = err.cause;
  return (
    cause instanceof ApplicationFailure && cause.nonRetryable === true && cause.type !== BACKEND_UNAVAILABLE
  );
}

function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    if (cause instanceof TimeoutFailure) {
      const last = cause.cause?.message;
      return last ? `${last} (still failing after its time budget)` : 'no answer within its time budget';
    }
    return cause?.message ?? err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

function currentDetails(plan: ResolvedPlan, s: PolicyState): string {
  const a = s.lastAnalysis;
  const write = applying(s);
  const lines = [
    `**${plan.agent}**: ${plan.stable} → ${plan.canary}`,
    '',
    `state **${s.state.replace('_', ' ')}**, stage ${s.stageIndex + 1} of ${plan.stages.length}, canary **${percentOf(s)}%**, ` +
      `failed checks ${s.failedChecks}/${plan.analysis.failureLimit}`,
  ];
  if (s.pausedOnFail && s.gates) {
    lines.push(
      '',
      `**paused on a failed check** (${s.pausedOnFail.metrics.join(', ')}): waits for a person; still judged on the data since the pause, rolled back at once only if clearly worse. ` +
        'Signal `dismiss` to continue, `promote` to move on, `abort` to end.',
    );
  } else if (s.pausedOnFail) {
    lines.push(
      '',
      `**paused on a failed check** (${s.pausedOnFail.metrics.join(', ')}): still judged, a second failure rolls back. ` +
        'Signal `dismiss` to continue, `abort` to end.',
    );
  }
  if (s.awaitingApproval) {
    lines.push('', `**stage ${s.stageIndex + 1} waits for approval**: signal \`approve\` \`{"by": "me"}\`.`);
  }
  if (write) {
    lines.push(
      '',
      `writing the split: ${write.write.label}${write.lastError ? ` (waiting for the router: ${write.lastError})` : ''}`,
    );
  }
  // For people at a glance: times as HH:MM:SS UTC, reasons without the statistics (in status --json).
  lines.push('', a ? `last check ${a.at.slice(11, 19)} UTC: **${a.verdict}**` : 'no check yet');
  // The Web UI's renderer starts a list only after a blank line.
  if (a) lines.push('');
  if (a) {
    for (const m of a.metrics) {
      lines.push(`- ${m.metric}: stable ${fmt(m.stable)} vs canary ${fmt(m.canary)} (${m.status})`);
    }
    if (a.metrics.length === 0) lines.push(`- ${plainReason(a.reason)}`);
  }
  const last = s.decisions.slice(-5).reverse();
  if (last.length > 0) {
    lines.push('', '**decisions** (newest first)', '');
    for (const d of last) {
      lines.push(
        `- ${d.at.slice(11, 19)} ${d.action.replace('_', ' ')} by ${d.by}: ${plainReason(d.reason)}`,
      );
    }
  }
  lines.push(
    '',
    '**Signals** (or Updates of the same name): `pause` / `resume` `{"by": "me", "reason": "why"}`, ' +
      '`promote` `{"full": true}`, `abort` `{"reason": "bad answers", "by": "me"}`, ' +
      '`extend` `{"duration": "30m"}`, `dismiss` (clears failed checks)' +
      (plan.stages.some((st) => st.approval) ? ", `approve` (opens a stage's approval gate). " : '. ') +
      'Request Cancellation aborts the rollout: all traffic back to stable.',
    // The Web UI sizes the frame without the text's bottom margin: a closing rule takes the cut.
    '',
    '---',
  );
  return lines.join('\n');
}

function parseOr<T>(
  schema: { safeParse(v: unknown): { success: boolean; data?: T } },
  value: unknown,
  fallback: T,
): T {
  const parsed = schema.safeParse(value ?? {});
  return parsed.success ? (parsed.data as T) : fallback;
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

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
  deprecatePatch,
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
import type { Activities } from '../activities';
import type { NotifyEvent } from '../src/notify/types';
import type { RolloutEvent } from '../src/temporal/rollout-events';
import { hookBudgetMs } from '../src/plan/hook-budget';
import { plainReason } from '../src/ui/plain';
import type { ResolvedPlan } from '../src/plan/schema';
import {
  BACKEND_UNAVAILABLE,
  CONFIG_FAILURE,
  PATCHES,
  PLAN_FAILURE,
  ROLLOUT_EVENT_KEY,
  type RolloutOptions,
} from '../src/contract';
import { commandOf, lenientAbort, optionsOf } from './guards';
import type { DesiredSplit } from '../src/router/types';
import {
  SA,
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
  windowMs,
  type Command,
  type Effect,
  type FailureKind,
  type PolicyEvent,
  type PolicyState,
} from './policy';

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

export type { RolloutOptions };

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
  // Code version 1 (before the control loop) is no longer supported: docs/versions.md.
  deprecatePatch(PATCHES.controlLoop.id);
  // Another client can start the workflow with anything: fail at once, saying what is wrong.
  const options = optionsOf(rawOptions);
  if (!options.ok) throw ApplicationFailure.nonRetryable(options.problem, PLAN_FAILURE);
  return run(await planOf(input, options.value), options.value);
}

const { resolvePlan } = proxyActivities<Activities>({
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '60s',
  retry: { initialInterval: '200ms', maximumInterval: '5s' },
  summary: 'resolve the plan as written',
});

/**
 * The plan the rollout runs. agent-canary's clients resolve and check it before they start
 * (`planChecked`), continue-as-new carries the resolved plan; a plan from any other client is resolved
 * and checked by the first activity, so the sandbox holds no parser (patch plan-at-edge).
 */
async function planOf(input: unknown, options: RolloutOptions): Promise<ResolvedPlan> {
  if (options.carried || options.planChecked) return input as ResolvedPlan;
  if (patched(PATCHES.planAtEdge.id)) {
    // Until the plan is known there is no status to tell: say so rather than "no such query".
    setHandler(statusQuery, () => {
      throw new Error('the rollout is resolving its plan (its first activity): ask again in a moment');
    });
    try {
      return await resolvePlan(input);
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.type === PLAN_FAILURE) {
        throw ApplicationFailure.nonRetryable(cause.message, PLAN_FAILURE);
      }
      throw err;
    }
  }
  // Runs started before the patch checked the plan in the workflow, with no command: a resolved one
  // (every agent-canary client) needs nothing more; only a plan as written from another client, in
  // its first run, still loads the parser, in its own sandbox only (gone with the patch's retirement).
  const looksResolved =
    typeof (input as { analysis?: { intervalMs?: unknown } } | null)?.analysis?.intervalMs === 'number';
  if (looksResolved) return input as ResolvedPlan;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const parser = require('../src/plan/resolve') as typeof import('../src/plan/resolve');
  try {
    return parser.planForWorkflow(input);
  } catch (err) {
    if (err instanceof parser.PlanError) throw ApplicationFailure.nonRetryable(err.message, PLAN_FAILURE);
    throw err;
  }
}

async function run(plan: ResolvedPlan, options: RolloutOptions): Promise<RolloutResult> {
  const info = workflowInfo();
  const carried = options.carried as Record<string, unknown> | undefined;
  // judge-v3: evidence carried across stages, graduated passes (policy rules 3); older runs keep theirs.
  let s: PolicyState = carried
    ? (carried as unknown as PolicyState)
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
  /** An Update's validator: a plain guard on the input, then the policy's admission (no zod here). */
  const validator = (kind: Command['kind']) => (input: unknown) => {
    const checked = commandOf(kind, input);
    if (!checked.ok) throw new Error(checked.problem);
    const why = refusal(s, checked.value, plan);
    if (why) throw new Error(why);
  };
  /** The input as the validator accepted it. */
  const accepted = (kind: Command['kind'], input: unknown): Command => {
    const checked = commandOf(kind, input);
    if (!checked.ok) throw ApplicationFailure.nonRetryable(checked.problem);
    return checked.value;
  };
  /** Signals are never refused on shape alone: what cannot be read is taken as no input. */
  const signalled = (kind: Command['kind'], input: unknown): Command => {
    const checked = commandOf(kind, input);
    return checked.ok ? checked.value : ({ kind, input: {} } as Command);
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
  setHandler(pauseSignal, (input) => fromSignal(signalled('pause', input)));
  setHandler(resumeSignal, (input) => fromSignal(signalled('resume', input)));
  setHandler(promoteSignal, (input) => fromSignal(signalled('promote', input)));
  setHandler(abortSignal, (input) => fromSignal(lenientAbort(input)));
  // An extend without a valid duration has no meaning to default to: it is logged and ignored.
  setHandler(extendSignal, (input) => {
    const checked = commandOf('extend', input);
    if (checked.ok) fromSignal(checked.value);
    else log.warn(`ignored extend signal: ${checked.problem}`);
  });
  setHandler(dismissSignal, (input) => fromSignal(signalled('dismiss', input)));
  setHandler(approveSignal, (input) => fromSignal(signalled('approve', input)));
  const updates = [
    [
      approveUpdate,
      'approve',
      'Open the current stage\'s approval gate, e.g. {"by": "me", "reason": "looked at it"}',
    ],
    [
      pauseUpdate,
      'pause',
      'Pause: freeze the observation clock (checks go on; a clear failure still rolls back)',
    ],
    [resumeUpdate, 'resume', 'Resume a paused rollout'],
    [
      promoteUpdate,
      'promote',
      'Next stage now, or {"full": true} for 100%. Answers once the new split is written.',
    ],
    [abortUpdate, 'abort', 'Abort: all traffic back to stable, e.g. {"reason": "bad answers", "by": "me"}'],
    [
      extendUpdate,
      'extend',
      'More observation for the current stage, e.g. {"duration": "30m", "reason": "why", "by": "me"}',
    ],
    [
      dismissUpdate,
      'dismiss',
      "Clear the stage's failed checks (and a pause on failure) and go on, judging fresh data",
    ],
  ] as const;
  for (const [def, kind, description] of updates) {
    setHandler(def as typeof pauseUpdate, (input: unknown) => viaUpdate(accepted(kind, input)), {
      validator: validator(kind),
      description,
    });
  }
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
  if (end.failure) throw ApplicationFailure.nonRetryable(end.failure, CONFIG_FAILURE);
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

function fmt(v: number | null): string {
  if (v === null) return 'n/a';
  return Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}

// The effect interpreter: carries out what the policy asks (traffic writes, checks, dropping an
// operation, notifications, hooks) through activities, and turns each outcome back into a policy
// event. Each operation runs in its own cancellation scope so the policy can drop it; its late outcome
// is then ignored.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  isCancellation,
  proxyActivities,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { BACKEND_UNAVAILABLE } from '../src/contract';
import type { NotifyEvent } from '../src/notify/types';
import { hookBudgetMs } from '../src/plan/hook-budget';
import type { ResolvedPlan } from '../src/plan/schema';
import type { DesiredSplit } from '../src/router/types';
import {
  percentOf,
  recordNotifyFailures,
  type Effect,
  type FailureKind,
  type PolicyEvent,
  type PolicyState,
} from './policy';

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

/** The judge a rollout's checks use, by the patches it started under (judgeV4 set). */
function judgeVersionOf(s: PolicyState): 4 | 5 | 6 {
  return s.judgeV6 ? 6 : s.judgeV5 ? 5 : 4;
}

/** What the interpreter needs of the running rollout. */
export interface EffectHost {
  readonly plan: ResolvedPlan;
  readonly workflowId: string;
  readonly runId: string;
  /** The plan's shadow stage mirrors (patch shadow-v1). */
  readonly mirroring: boolean;
  /** The policy's state as it is now (each step makes a new one). */
  state(): PolicyState;
  /** An outcome for the policy. */
  push(event: PolicyEvent): void;
  finish(e: Extract<Effect, { type: 'finish' }>): void;
  /** Told, not asked: awaited before the run ends or continues as new. */
  readonly notifications: Promise<void>[];
}

export class Effects {
  private readonly scopes = new Map<number, CancellationScope>();

  constructor(private readonly host: EffectHost) {}

  carryOut(e: Effect): void {
    const { plan } = this.host;
    switch (e.type) {
      case 'write':
        this.launch(e.opId, async () => {
          await writeActivity(e.write.label)({ agent: plan.agent, desired: this.desiredFor(e) });
          return { type: 'write_done', opId: e.opId };
        });
        break;
      case 'check':
        this.launch(e.opId, async () => {
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
            ...(this.host.state().judgeV4 ? { judgeVersion: judgeVersionOf(this.host.state()) } : {}),
            ...(e.rollout ? { rollout: e.rollout } : {}),
            lease: {
              stable: plan.stable,
              canary: plan.canary,
              canaryWeight: e.weight,
              leaseMs: plan.leaseTtlMs,
              owner: this.host.workflowId,
              decidedAt: Date.now(),
              // A renewal carries the test routes too: the split is written whole each time.
              ...(plan.testRoutes ? { testRoutes: plan.testRoutes } : {}),
              ...this.shadowOf(e.stageIndex),
            },
          });
          return { type: 'check_done', opId: e.opId, outcome };
        });
        break;
      case 'drop': {
        const scope = this.scopes.get(e.opId);
        this.scopes.delete(e.opId);
        scope?.cancel();
        break;
      }
      case 'notify':
        this.sendNotification(e);
        break;
      case 'hook':
        this.runHooks(e);
        break;
      case 'finish':
        this.host.finish(e);
        break;
    }
  }

  /** The split's `shadow` field for a stage: its share while it is the shadow stage, else nothing. */
  private shadowOf(stageIndex: number) {
    const share = this.host.mirroring ? this.host.plan.stages[stageIndex]?.shadow : undefined;
    return share !== undefined ? { shadow: share } : {};
  }

  private desiredFor(e: Extract<Effect, { type: 'write' }>): DesiredSplit {
    const { plan } = this.host;
    const base = { owner: this.host.workflowId, decidedAt: e.decidedAt, reason: e.write.reason };
    if (e.write.purpose === 'stage') {
      return {
        ...base,
        stable: plan.stable,
        canary: plan.canary,
        canaryWeight: e.write.weight,
        leaseMs: e.leaseMs,
        ...(plan.testRoutes ? { testRoutes: plan.testRoutes } : {}),
        ...this.shadowOf(e.write.stageIndex),
      };
    }
    const stable = e.write.purpose === 'promote' ? plan.canary : plan.stable;
    return { ...base, stable, canary: null, canaryWeight: 0, leaseMs: null };
  }

  /** Runs an operation in its own scope, so the policy can drop it; its outcome becomes an event. */
  private launch(opId: number, body: () => Promise<PolicyEvent>): void {
    // A child of the main loop's non-cancellable scope: workflow cancellation does not reach it (the
    // policy decides what to drop), scope.cancel() does.
    const scope = new CancellationScope({ cancellable: true });
    this.scopes.set(opId, scope);
    scope
      .run(body)
      .then(
        (event) => this.host.push(event),
        (err) => {
          if (!this.scopes.has(opId) && isCancellation(err)) return; // dropped by the policy
          this.host.push(failureEvent(opId, err));
        },
      )
      .finally(() => this.scopes.delete(opId));
  }

  /** Failures of told, not asked, calls are kept with the notify failures (bounded). */
  private recordFailures(failures: { at: string; event: string; target: string; error: string }[]): void {
    recordNotifyFailures(this.host.state(), failures);
  }

  private sendNotification(e: Extract<Effect, { type: 'notify' }>): void {
    const { plan } = this.host;
    const s = this.host.state();
    const event: NotifyEvent = {
      type: e.event,
      agent: plan.agent,
      stable: plan.stable,
      canary: plan.canary,
      workflowId: this.host.workflowId,
      runId: this.host.runId,
      stageIndex: s.stageIndex,
      stageCount: plan.stages.length,
      percent: percentOf(s),
      reason: e.reason,
      by: e.by,
      at: new Date(Date.now()).toISOString(),
      ...(e.verdict ? { verdict: e.verdict } : {}),
    };
    // Not awaited by the decision that caused it: a slow channel never delays a rollback.
    this.host.notifications.push(
      CancellationScope.nonCancellable(() => notify({ event, targets: plan.notify })).then(
        (failures) =>
          this.recordFailures(
            failures.map((f) => ({ at: event.at, event: e.event, target: f.target, error: f.error })),
          ),
        (err) =>
          this.recordFailures([
            { at: event.at, event: e.event, target: 'notify', error: String((err as Error).message) },
          ]),
      ),
    );
  }

  private hookCall(e: Extract<Effect, { type: 'hook' }>) {
    const { plan } = this.host;
    return {
      hooks: plan.hooks ?? [],
      call: {
        type: e.hook,
        agent: plan.agent,
        stable: plan.stable,
        canary: plan.canary,
        workflowId: this.host.workflowId,
        stageIndex: e.stageIndex,
        weight: e.weight,
        reason: e.reason,
        at: new Date(Date.now()).toISOString(),
      },
    };
  }

  private runHooks(e: Extract<Effect, { type: 'hook' }>): void {
    const budget = Math.max(
      1_000,
      ...(this.host.plan.hooks ?? []).filter((h) => h.type === e.hook).map((h) => hookBudgetMs(h)),
    );
    const call = hooksActivity(budget, `${e.hook} hooks`);
    if (e.opId > 0) {
      this.launch(e.opId, async () => {
        const r = await call(this.hookCall(e));
        return { type: 'hook_done', opId: e.opId, ok: r.ok, reason: r.reason };
      });
      return;
    }
    // Told, not asked (post-rollout, rollback): awaited before the run ends, like notifications.
    const at = new Date(Date.now()).toISOString();
    const event = `hook ${e.hook}`;
    this.host.notifications.push(
      CancellationScope.nonCancellable(() => call(this.hookCall(e))).then(
        (r) => this.recordFailures(r.failures.map((f) => ({ at, event, target: f.hook, error: f.error }))),
        (err) => this.recordFailures([{ at, event, target: 'hooks', error: String((err as Error).message) }]),
      ),
    );
  }
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

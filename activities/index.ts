// Activities are thin adapters: each turns one workflow request into a call on a backend
// (router, metrics source, judge, notifiers). All I/O of a rollout happens here.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { judge as defaultJudge } from '../src/analysis';
import { endingActivities } from './ending';
import { planActivities, preflightInputProblems } from './plan';
import { judgeWithCustom } from '../src/analysis/custom';
import { withEvaluator } from '../src/analysis/evaluator';
import { withSuccessCost } from '../src/analysis/success-cost';
import { judgeShadowStage, weightedAnalysis } from '../src/analysis/shadow';
import { fetchWithCustom } from '../src/metrics/prometheus-custom';
import { readSettled, settledHorizon } from '../src/metrics/settled';
import type { Verdict } from '../src/analysis/types';
import { MetricsConfigError, type MetricsSource, type MetricsWindow } from '../src/metrics/types';
import type { DeliveryFailure, Notifier, NotifyEvent } from '../src/notify/types';
import { rolloutVerdict } from '../src/analysis/evidence';
import type { CheckOutcome, RolloutAsk } from '../workflows/policy';
import type { AnalysisConfig, Hook, NotifyTarget } from '../src/plan/schema';
import { callHooks, type HookCall, type HookOptions, type HookResult } from '../src/hooks';
import { RouterConfigError, type AppliedSplit, type DesiredSplit, type Router } from '../src/router/types';
import type { RolloutObserver } from '../src/temporal/rollout-metrics';

export interface ActivityDeps {
  router: Router;
  metrics: MetricsSource;
  /** Builds the notifiers for a plan's notify targets (a log notifier is the usual extra). */
  notifiers: (targets: NotifyTarget[]) => Notifier[];
  judge?: (window: MetricsWindow, analysis: AnalysisConfig) => Verdict;
  /** Aborted when the worker starts shutting down: checks waiting for their time hand back at once. */
  stopping?: AbortSignal;
  /** Where the plan's hooks find secretEnv and which hosts they may call (the worker's env). */
  hooks?: HookOptions;
  /** Sees every split, check and decision this worker carries out (the worker's /metrics). */
  observe?: RolloutObserver;
}

export interface HooksInput {
  hooks: Hook[];
  call: HookCall;
}

export interface SetSplitInput {
  agent: string;
  desired: DesiredSplit;
}

/** The window a check judges, and how. */
export interface CheckWindow {
  agent: string;
  stable: string;
  canary: string;
  /** Epoch ms: the stage's start and the check's time, both from workflow time. */
  since: number;
  until: number;
  analysis: AnalysisConfig;
  /**
   * 4: the rollout started under patch judge-v4 (conversations as the unit); 5: under judge-v5 too
   * (early stages may pass on the means of conversations' own rates); 6: under judge-v6 too (a
   * stage's passes kept, the stages' reads summed); absent: before them.
   */
  judgeVersion?: 4 | 5 | 6;
}

export interface CheckInput extends CheckWindow {
  /** The lease renewal for the current stage, written before the metrics are read. */
  lease: DesiredSplit;
  /**
   * Deferred checks: epoch ms when the check is due. The lease is renewed at once (so a check given
   * up while it waits never writes later), then the activity waits until `at` and judges.
   */
  at?: number;
  /** Rules 3: judge the rollout too, with the earlier stages' evidence (absent: the stage only). */
  rollout?: RolloutAsk;
}

export interface PreflightInput {
  agent: string;
  stable: string;
  canary: string;
  /** The plan's metrics read from the answers (sent only when it names some): can the traffic give them? */
  metrics?: string[];
  /** The plan has a shadow stage: may the router mirror this agent's requests? */
  shadow?: true;
}

export interface NotifyInput {
  event: NotifyEvent;
  targets: NotifyTarget[];
}

export function createActivities(deps: ActivityDeps) {
  // The plan's custom metrics are read with the window and judged beside the built-ins.
  // An evaluator that is down or out of budget leaves the metrics it feeds without data.
  const judge = (w: MetricsWindow, a: AnalysisConfig, version?: CheckWindow['judgeVersion']) =>
    withSuccessCost(
      withEvaluator(
        judgeWithCustom(
          (win, an) => (deps.judge ? deps.judge(win, an) : defaultJudge(win, an, version)),
          w,
          a,
        ),
        w,
      ),
      w,
    );
  return {
    ...endingActivities(),
    ...planActivities(),
    async setTrafficSplit({ agent, desired }: SetSplitInput): Promise<AppliedSplit> {
      try {
        const applied = await persist(() => deps.router.setSplit(agent, desired));
        deps.observe?.observeSplit(agent, desired);
        return applied;
      } catch (err) {
        if (err instanceof RouterConfigError) {
          throw ApplicationFailure.nonRetryable(err.message, 'RouterConfigError');
        }
        throw outage(err);
      }
    },

    /**
     * One check: renew the canary's lease, then read metrics and judge. A router outage throws (retried
     * within the check's budget); an unreachable metrics source is answered as an outage at once, so
     * the workflow records it at this check and moves on; configuration errors of either fail for good.
     */
    async checkCanary(input: CheckInput): Promise<CheckOutcome> {
      const { lease, judgeVersion, rollout: ask, ...query } = input;
      try {
        await persist(() => deps.router.setSplit(input.agent, lease));
      } catch (err) {
        if (err instanceof RouterConfigError) {
          throw ApplicationFailure.nonRetryable(
            `the router refused the lease renewal: ${err.message}`,
            err.name,
          );
        }
        throw outage(err);
      }
      if (input.at !== undefined) await waitUntil(input.at, deps.stopping);
      let window: MetricsWindow;
      // Absolute limits on outcomes read requests older than the feedback horizon (a second read).
      const horizon = lease.shadow === undefined ? settledHorizon(input.analysis) : undefined;
      try {
        window = await withDeadline(
          (async () => {
            const w = await fetchWithCustom(
              deps.metrics,
              input.analysis.queries ? { ...query, queries: input.analysis.queries } : query,
              input.analysis.custom,
            );
            if (horizon === undefined) return w;
            return { ...w, settled: await readSettled(deps.metrics, query, w, horizon) };
          })(),
          metricsBudgetMs(),
        );
      } catch (err) {
        if (err instanceof MetricsConfigError) {
          throw ApplicationFailure.nonRetryable(
            `the metrics source refused the query: ${err.message}`,
            err.name,
          );
        }
        const out: CheckOutcome = { metrics: 'outage', message: (err as Error).message };
        deps.observe?.observeCheck(input, out);
        return out;
      }
      // A shadow stage (the lease mirrors) judges the copies and the pairs; others never `preference`.
      const verdict =
        lease.shadow !== undefined
          ? judgeShadowStage(window, input.analysis, lease.shadow, (w, a) => judge(w, a, judgeVersion))
          : judge(window, weightedAnalysis(input.analysis), judgeVersion);
      // One verdict per check: the rollout's, judged here so that history records what the rollout
      // acts on (workflows/policy.ts checkDone); the stage's stays beside it for a held pause.
      const rollout = rolloutVerdict(verdict, ask, input.analysis, judgeVersion);
      const outcome: CheckOutcome = {
        metrics: 'ok',
        verdict,
        rollout,
        stableRequests: window.stable.requests,
        canaryRequests: window.canary.requests,
        ...(window.coveredSince !== undefined ? { coveredSince: window.coveredSince } : {}),
      };
      deps.observe?.observeCheck(input, outcome);
      return outcome;
    },

    /**
     * Before a rollout starts, with this worker's own backends and credentials: one line per problem
     * (unknown agent or version, refused credentials, upstream or metrics source not answering).
     */
    async preflight(input: PreflightInput): Promise<string[]> {
      // The preflight workflow passes its input on as it came (any client can start it).
      const invalid = preflightInputProblems(input);
      if (invalid.length > 0) return invalid;
      const { agent, stable, canary, metrics, shadow } = input;
      const problems: string[] = [];
      const versions = { stable, canary };
      try {
        if (deps.router.preflight) problems.push(...(await deps.router.preflight(agent, versions)));
        else await deps.router.getSplit(agent);
      } catch (err) {
        problems.push(`router: ${(err as Error).message}`);
      }
      if (shadow) {
        try {
          problems.push(
            ...(deps.router.preflightShadow
              ? await deps.router.preflightShadow(agent)
              : [
                  'the plan has a shadow stage, and this router cannot mirror requests (use the agent-canary gateway)',
                ]),
          );
        } catch (err) {
          problems.push(`router: ${(err as Error).message}`);
        }
      }
      try {
        if (deps.metrics.preflight) {
          problems.push(...(await deps.metrics.preflight(agent, versions, metrics)));
        } else {
          const until = Date.now();
          await withDeadline(
            deps.metrics.fetch({ agent, stable, canary, since: until - 60_000, until }),
            10_000,
          );
        }
      } catch (err) {
        problems.push(`metrics: ${(err as Error).message}`);
      }
      return problems;
    },

    /**
     * The plan's hooks of one type (src/hooks.ts). Never throws for a hook's failure: the answer is
     * the result, and the policy decides what it means.
     */
    async callHooks({ hooks, call }: HooksInput): Promise<HookResult> {
      const result = await callHooks(hooks, call, deps.hooks);
      for (const f of result.failures) {
        Context.current().log.warn('hook failed', { hook: f.hook, type: call.type, error: f.error });
      }
      return result;
    },

    /** Best effort: never throws, so a broken channel cannot hold up a decision. */
    async notify({ event, targets }: NotifyInput): Promise<DeliveryFailure[]> {
      deps.observe?.observeDecision(event);
      const failures: DeliveryFailure[] = [];
      const notifiers = deps.notifiers(targets);
      await Promise.all(
        notifiers.map(async (n) => {
          try {
            await n.send(event);
          } catch (err) {
            failures.push({ target: n.name, error: (err as Error).message });
            Context.current().log.warn('notification failed', { target: n.name, error: String(err) });
          }
        }),
      );
      return failures;
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

/**
 * Retries a router call inside the activity, every 50-250 ms, for most of its start-to-close time:
 * traffic moves within a fraction of a second of the router coming back, without a server round trip
 * per attempt. Configuration errors and a cancelled activity stop at once.
 */
async function persist<T>(call: () => Promise<T>): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    ctx = undefined; // called outside an activity: one attempt
  }
  const deadline = ctx ? Date.now() + Math.max(0, ctx.info.startToCloseTimeoutMs - 1_000) : 0;
  let delay = 50;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (err instanceof RouterConfigError || !ctx || Date.now() + delay >= deadline) throw err;
      ctx.heartbeat();
      if (ctx.cancellationSignal.aborted) throw err;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 250);
    }
  }
}

/**
 * The failure type of an outage that outlasted the activity's time budget: final for this activity,
 * so the workflow learns the cause (and shows it) and asks again; not a configuration error.
 */
export const BACKEND_UNAVAILABLE = 'BackendUnavailable';

/**
 * A retryable failure, or, when the next retry would not fit in the activity's schedule-to-close
 * budget, a final one carrying the message (a timeout would lose it).
 */
function outage(err: unknown): unknown {
  let info;
  try {
    info = Context.current().info;
  } catch {
    return err;
  }
  const budget = info.scheduleToCloseTimeoutMs;
  if (!budget || Date.now() - info.scheduledTimestampMs < budget - 1_500) return err;
  return ApplicationFailure.create({
    message: (err as Error).message,
    type: BACKEND_UNAVAILABLE,
    nonRetryable: true,
  });
}

/** Time a check may spend on metrics: most of the activity's start-to-close, so it answers in time. */
function metricsBudgetMs(): number {
  let budget = 10_000;
  try {
    const ms = Context.current().info.startToCloseTimeoutMs;
    if (ms > 0) budget = Math.max(500, Math.min(ms - 1_000, ms * 0.8));
  } catch {
    // outside an activity (unit tests call the functions directly): the default stands
  }
  return budget;
}

async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${Math.round(ms)} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits in the activity until a deferred check is due. A worker shutting down gives the check back
 * (a retryable failure: the server hands it to a worker that runs), rather than holding the shutdown.
 */
async function waitUntil(at: number, stopping: AbortSignal | undefined): Promise<void> {
  const ms = at - Date.now();
  if (ms <= 0) return;
  if (stopping?.aborted) throw shuttingDown();
  let onStop: (() => void) | undefined;
  try {
    await Promise.race([
      Context.current().sleep(ms),
      new Promise<never>((_, reject) => {
        onStop = () => reject(shuttingDown());
        stopping?.addEventListener('abort', onStop, { once: true });
      }),
    ]);
  } finally {
    if (onStop) stopping?.removeEventListener('abort', onStop);
  }
}

function shuttingDown(): ApplicationFailure {
  return ApplicationFailure.retryable(
    'the worker is shutting down; the check goes to another worker',
    'WorkerShutdown',
  );
}

// The canaryRollout workflow: a small interpreter of the pure policy in ./policy. It turns Signals,
// Updates, cancellation, timers and activity outcomes into policy events (./handlers.ts, ./rollout.ts)
// and carries out the effects the policy returns (./effects.ts); what it shows is a pure view
// (./view.ts). Deterministic: all I/O is in activities; the judge runs in an activity too, so its
// verdicts are in history. The sandbox holds the contract, the policy and this interpreter only: no
// zod, no plan parser (plans are resolved at the edge, ./start.ts).
import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  log,
  proxyActivities,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  CONFIG_FAILURE,
  PATCHES,
  PLAN_FAILURE,
  ROLLED_BACK_FAILURE,
  type RolloutOptions,
  type RolloutResult,
} from '../src/contract';
import type { ResolvedPlan } from '../src/plan/schema';
import { plainReason } from '../src/ui/plain';
import { behaviourOfRun, type Takes } from './behaviour';
import { optionsOf } from './guards';
import { installSignals, installUpdates } from './handlers';
import { initialState, type PolicyState } from './policy';
import { BASELINE_RUN_EVENT_LIMIT, Rollout, RUN_EVENT_LIMIT, staggeredEventLimit } from './rollout';
import { knownPlan, resolveAtEdge } from './start';

export type { RolloutOptions };

/** How long an aborted run waits for its own cancel request before it completes instead. */
const OWN_CANCEL_WAIT_MS = 30_000;
const endingActivity = proxyActivities<Activities>({
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', maximumInterval: '2s' },
  summary: 'close as Canceled (aborted)',
});

export async function canaryRollout(input: unknown, rawOptions: unknown = {}): Promise<RolloutResult> {
  const takes = behaviourOfRun();
  // Another client can start the workflow with anything: fail at once, saying what is wrong.
  const options = optionsOf(rawOptions);
  if (!options.ok) throw ApplicationFailure.nonRetryable(options.problem, PLAN_FAILURE);
  let rollout: Rollout | undefined;
  installUpdates(() => rollout);
  const plan = knownPlan(input, options.value, takes) ?? (await resolveAtEdge(input));
  return run(plan, options.value, takes, (r) => (rollout = r));
}

/** The rollout's state at the start of this run: carried over, or new with the rules of its patches. */
function firstState(options: RolloutOptions, takes: Takes): PolicyState {
  if (options.carried) return options.carried as unknown as PolicyState;
  // judge-v3: evidence carried across stages, graduated passes (policy rules 3); older runs keep theirs.
  const s = initialState(
    Date.now(),
    takes(PATCHES.judgeV3) ? 3 : undefined,
    takes(PATCHES.deferredChecks) ? 'deferred' : undefined,
    takes(PATCHES.gates) ? 1 : undefined,
  );
  // judge-v4: conversations as the unit, incidents on both versions held (docs/judge.md).
  if (s.rules === 3 && takes(PATCHES.judgeV4)) s.judgeV4 = true;
  // judge-v5: early stages may also pass on the means of conversations' own rates (docs/judge.md).
  if (s.judgeV4 && takes(PATCHES.judgeV5)) s.judgeV5 = true;
  // judge-v6: what a stage has shown is kept, and the stages' reads summed (docs/judge.md).
  if (s.judgeV5 && takes(PATCHES.judgeV6)) s.judgeV6 = true;
  return s;
}

async function run(
  plan: ResolvedPlan,
  options: RolloutOptions,
  takes: Takes,
  ready: (r: Rollout) => void,
): Promise<RolloutResult> {
  const s = firstState(options, takes);
  // A plan with a shadow stage cannot have run before the patch (its schema refused weight 0).
  const mirroring = plan.stages[0]?.shadow !== undefined && takes(PATCHES.shadow);
  // bounded-runs: every new run, a continued one too, has a bound on its history; older runs only
  // the server's suggestion (thousands of events), as before. staggered-runs: the bound is drawn
  // (the workflow's seeded random, the same on replay), so rollouts started together do not all
  // continue as new at one check.
  const eventLimit =
    options.continueAsNewAfterEvents ??
    (!takes(PATCHES.boundedRuns)
      ? undefined
      : takes(PATCHES.staggeredRuns)
        ? staggeredEventLimit(
            Math.random(),
            takes(PATCHES.baselineV12) ? BASELINE_RUN_EVENT_LIMIT : RUN_EVENT_LIMIT,
          )
        : RUN_EVENT_LIMIT);
  const r = new Rollout(plan, options, s, mirroring, eventLimit);
  ready(r);
  installSignals(r);

  // Cancelled from the Web UI or `temporal workflow cancel`: an abort like any other, so traffic goes
  // back to stable first; the loop itself runs shielded and ends the workflow as cancelled after.
  let cancellation: unknown = null;
  CancellationScope.current().cancelRequested.catch((err: unknown) => {
    cancellation = err;
    r.queue.push({ type: 'cancelled' });
  });
  await CancellationScope.nonCancellable(async () => {
    r.feed(
      options.carried
        ? { type: 'continued' }
        : { type: 'start', ...(options.retry ? { retry: options.retry } : {}) },
    );
    r.drain();
    while (!r.finished) {
      if (r.queue.length === 0) {
        const wait = r.wakeAt === null ? null : Math.max(1, r.wakeAt - Date.now());
        const woken =
          wait === null
            ? await condition(() => r.queue.length > 0)
            : await condition(() => r.queue.length > 0, wait, {
                summary: `next check in ${Math.round(wait / 1000)}s`,
              });
        if (!woken) r.queue.push({ type: 'tick' });
      }
      while (r.queue.length > 0 && !r.finished) {
        r.feed(r.queue.shift()!);
        r.drain();
      }
      if (!r.finished && (r.wakeAt !== null || r.waitingCheck())) await r.maybeContinueAsNew();
    }
    await Promise.all(r.notifications);
    await condition(allHandlersFinished);
  });

  const end = r.finished!;
  if (end.cancelled && cancellation) throw cancellation;
  if (end.failure) throw ApplicationFailure.nonRetryable(end.failure, CONFIG_FAILURE);
  if (!options.outcomeStatus || end.result.state === 'promoted' || !takes(PATCHES.outcomeStatus)) {
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

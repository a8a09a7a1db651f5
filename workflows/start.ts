// The plan a rollout runs, resolved and checked at the edge (patch plan-at-edge): agent-canary's
// clients resolve and check it before they start (`planChecked`), continue-as-new carries the resolved
// plan, and a plan from any other client (the Python SDK, `temporal workflow start` with the YAML's
// JSON) is resolved and checked by the run's first activity. The sandbox holds no parser.
import {
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { PATCHES, PLAN_FAILURE, type RolloutOptions } from '../src/contract';
import type { ResolvedPlan } from '../src/plan/schema';
import type { Takes } from './behaviour';
import { statusQuery } from './messages';
import { resolvingStatus } from './view';

const { resolvePlan } = proxyActivities<Activities>({
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '60s',
  retry: { initialInterval: '200ms', maximumInterval: '5s' },
  summary: 'resolve the plan as written',
});

/**
 * The plan when it needs no activity, in this activation (so handlers see the rollout at once);
 * undefined when the first activity must resolve it.
 */
export function knownPlan(input: unknown, options: RolloutOptions, takes: Takes): ResolvedPlan | undefined {
  if (options.carried || options.planChecked) return input as ResolvedPlan;
  if (takes(PATCHES.planAtEdge)) return undefined;
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

/** The first activity resolves and checks a plan as written; a bad one fails the run at once. */
export async function resolveAtEdge(input: unknown): Promise<ResolvedPlan> {
  // Until the plan is known, status says what the rollout waits for (not "no such query").
  const since = Date.now();
  setHandler(statusQuery, () => resolvingStatus(input, since, Date.now(), workflowInfo().workflowId));
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

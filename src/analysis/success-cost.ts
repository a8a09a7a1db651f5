// Cost per successful task beside the verdict: the cost of the priced answers whose task got
// positive feedback or evaluation, over those tasks, per version, for `status` and the dashboard.
// Shown, not judged: it says what a success costs while the judged metrics decide.
import type { MetricsWindow, VersionMetrics } from '../metrics/types';
import type { Verdict } from './types';

function perSuccess(m: VersionMetrics): { cost: number | null; tasks: number } {
  const v = m.signals?.successCost;
  const tasks = v?.count ?? 0;
  return { cost: v && tasks > 0 ? v.sum / tasks : null, tasks };
}

/** The verdict with `costPerSuccess` when either version has a priced successful task in the window. */
export function withSuccessCost(verdict: Verdict, window: MetricsWindow): Verdict {
  const stable = perSuccess(window.stable);
  const canary = perSuccess(window.canary);
  if (stable.tasks === 0 && canary.tasks === 0) return verdict;
  return {
    ...verdict,
    costPerSuccess: {
      stable: stable.cost,
      canary: canary.cost,
      stableTasks: stable.tasks,
      canaryTasks: canary.tasks,
    },
  };
}

// The predicted schedule of a plan, shown by `validate` and `start` before anything runs: when each
// stage begins, how long it observes, how many checks it gets, and the deadline.
import { formatDuration, type ResolvedPlan } from '../plan';

export interface ScheduledStage {
  index: number;
  weight: number;
  observeMs: number;
  /** Checks inside the window at the analysis interval (0 for the final 100% stage). */
  checks: number;
  /** Offset from the start of the rollout, assuming no pause and no extension. */
  startsAtMs: number;
}

export interface Schedule {
  stages: ScheduledStage[];
  intervalMs: number;
  /** Earliest time to promotion: the sum of the observation windows. */
  minDurationMs: number;
  progressDeadlineMs: number;
  /** Rollback after this many failed checks, i.e. at the earliest failureLimit x interval into a stage. */
  failureLimit: number;
  earliestRollbackMs: number;
}

export function scheduleOf(plan: ResolvedPlan): Schedule {
  let t = 0;
  const stages = plan.stages.map((s, index) => {
    const stage = {
      index,
      weight: s.weight,
      observeMs: s.observeMs,
      checks: s.observeMs > 0 ? Math.max(1, Math.ceil(s.observeMs / plan.analysis.intervalMs)) : 0,
      startsAtMs: t,
    };
    t += s.observeMs;
    return stage;
  });
  return {
    stages,
    intervalMs: plan.analysis.intervalMs,
    minDurationMs: t,
    progressDeadlineMs: plan.progressDeadlineMs,
    failureLimit: plan.analysis.failureLimit,
    earliestRollbackMs: plan.analysis.failureLimit * plan.analysis.intervalMs,
  };
}

export function renderSchedule(plan: ResolvedPlan): string {
  const s = scheduleOf(plan);
  const a = plan.analysis;
  const lines = [
    `${plan.agent}: ${plan.stable} (stable) -> ${plan.canary} (canary)`,
    '',
    '  stage  canary  starts at  observe   checks',
  ];
  for (const st of s.stages) {
    const last = st.index === s.stages.length - 1;
    lines.push(
      `  ${String(st.index + 1).padStart(5)}  ${`${st.weight}%`.padStart(6)}  ${st.startsAtMs ? `+${formatDuration(st.startsAtMs)}` : '0'.padStart(9)}  ` +
        (last && st.observeMs === 0
          ? 'promotion'
          : `${formatDuration(st.observeMs).padEnd(8)}  ${st.checks}`),
    );
  }
  lines.push(
    '',
    `  checks every ${formatDuration(s.intervalMs)} on ${a.metrics.join(', ')} (${a.judge} judge, ` +
      `at least ${a.minSamples} samples per version)`,
    `  rollback after ${s.failureLimit} failed checks in a stage: at the earliest ${formatDuration(s.earliestRollbackMs)} after the problem starts`,
    `  promotion after ${formatDuration(s.minDurationMs)} at the earliest; deadline ${formatDuration(s.progressDeadlineMs)}`,
    // TODO(lead): the statistical judge helper is adding a detection-time predictor to src/analysis;
    // once it lands, show the predicted time to detect a regression of minEffect at each stage here.
  );
  if (plan.notify.length) lines.push(`  notify: ${plan.notify.map((n) => n.type).join(', ')}`);
  return lines.join('\n');
}

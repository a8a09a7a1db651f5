// The predicted schedule of a plan, shown by `validate` and `start` before anything runs: when each
// stage begins, how long it observes, how many checks it gets, and the deadline.
import { InvalidArgumentError } from 'commander';
import { predictDetection, type MetricDetection } from '../analysis';
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
  /** Statistical judge only: expected effort to catch a regression of minEffect, per observed stage. */
  detection?: { stageIndex: number; weight: number; metrics: MetricDetection[] }[];
  /** Agent traffic (both versions) the detection times assume; absent: requests only. */
  requestsPerSecond?: number;
}

export function scheduleOf(plan: ResolvedPlan, requestsPerSecond?: number): Schedule {
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
    detection:
      plan.analysis.judge === 'statistical'
        ? stages
            .filter((st) => st.observeMs > 0 && st.weight < 100)
            .map((st) => ({
              stageIndex: st.index,
              weight: st.weight,
              metrics: predictDetection({
                analysis: plan.analysis,
                stageWeight: st.weight,
                // Requests are independent of traffic; times need it (1 req/s stands in when unknown).
                requestsPerSecond: requestsPerSecond ?? 1,
              }).map((m) => (requestsPerSecond ? m : { ...m, detectMs: NaN, passMs: NaN })),
            }))
        : undefined,
    requestsPerSecond,
  };
}

export function renderSchedule(plan: ResolvedPlan, requestsPerSecond?: number): string {
  const s = scheduleOf(plan, requestsPerSecond);
  const a = plan.analysis;
  const lines = [
    `${plan.agent}: ${plan.stable} (stable) -> ${plan.canary} (canary)`,
    '',
    '  stage  canary  starts at  observe   checks',
  ];
  for (const st of s.stages) {
    const last = st.index === s.stages.length - 1;
    lines.push(
      `  ${String(st.index + 1).padStart(5)}  ${(plan.stages[st.index].shadow !== undefined ? '0%' : `${st.weight}%`).padStart(6)}  ${(st.startsAtMs ? `+${formatDuration(st.startsAtMs)}` : '0').padStart(9)}  ` +
        (last && st.observeMs === 0
          ? 'promotion'
          : `${formatDuration(st.observeMs).padEnd(8)}  ${st.checks}`) +
        (plan.stages[st.index].shadow !== undefined
          ? `  shadow: ${plan.stages[st.index].shadow}% of requests mirrored, judged on preference (docs/shadow.md)`
          : ''),
    );
  }
  lines.push(
    '',
    `  checks every ${formatDuration(s.intervalMs)} on ${a.metrics.join(', ')} (${a.judge} judge, ` +
      `at least ${a.minSamples} samples per version)`,
    `  rollback after ${s.failureLimit} failed check${s.failureLimit === 1 ? '' : 's'} in a stage: at the earliest ${formatDuration(s.earliestRollbackMs)} after the problem starts`,
    `  promotion after ${formatDuration(s.minDurationMs)} at the earliest; deadline ${formatDuration(s.progressDeadlineMs)}`,
  );
  // What each stage can rule out at --rps is the forecast printed after this (src/analysis/forecast.ts):
  // the per-stage detection times the old judge predicted do not apply to evidence carried across stages.
  if (plan.notify.length) lines.push(`  notify: ${plan.notify.map((n) => n.type).join(', ')}`);
  for (const w of shortWindowWarnings(plan)) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}

/** Stages whose window is shorter than the check interval: they end after a single check. */
export function shortWindowWarnings(plan: ResolvedPlan): string[] {
  const every = plan.analysis.intervalMs;
  return plan.stages
    .map((s, i) => ({ ...s, i }))
    .filter((s) => s.weight < 100 && s.observeMs > 0 && s.observeMs < every)
    .map(
      (s) =>
        `stage ${s.i + 1} observes ${formatDuration(s.observeMs)}, less than the check interval (${formatDuration(every)}): ` +
        `it is decided on one check; lengthen its observe or shorten analysis.interval`,
    );
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number.');
  return n;
}

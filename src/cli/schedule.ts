// The predicted schedule of a plan, shown by `validate` and `start` before anything runs: when each
// stage begins, how long it observes, how many checks it gets, and the deadline.
import { InvalidArgumentError } from 'commander';
import { predictDetection, type MetricDetection, type MetricName } from '../analysis';
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

function effectText(metric: MetricName, e: number): string {
  switch (metric) {
    case 'error_rate':
      return `+${+(e * 100).toFixed(2)}pp`;
    case 'task_success_rate':
      return `-${+(e * 100).toFixed(2)}pp`;
    case 'p99_latency_ms':
      return `+${+(e * 100).toFixed(1)}%`;
    case 'quality_score':
      return `-${e}`;
  }
}

function renderDetection(s: Schedule, plan: ResolvedPlan): string[] {
  if (!s.detection?.length) return [];
  const rps = s.requestsPerSecond;
  const lines = [
    '',
    rps
      ? `  expected time to catch a regression of minEffect, at ${rps} req/s for the agent (! = longer than the stage):`
      : '  expected canary requests to catch a regression of minEffect (give --rps for times):',
    `    ${'metric'.padEnd(30)}${s.detection.map((d) => `stage ${d.stageIndex + 1} (${d.weight}%)`.padEnd(18)).join('')}`.trimEnd(),
  ];
  for (const metric of plan.analysis.metrics) {
    const cells = s.detection.map((d) => {
      const m = d.metrics.find((x) => x.metric === metric)!;
      const observe = s.stages[d.stageIndex].observeMs;
      if (!Number.isFinite(m.detectCanaryRequests)) return 'never'.padEnd(18);
      const req = `${m.detectCanaryRequests} req`;
      const cell = rps ? `${formatDuration(m.detectMs)}${m.detectMs > observe ? '!' : ''} (${req})` : req;
      return cell.padEnd(18);
    });
    const label = `${metric} ${effectText(metric, plan.analysis.minEffect[metric])}`;
    lines.push(`    ${label.padEnd(30)}${cells.join('')}`.trimEnd());
  }
  return lines;
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
      `  ${String(st.index + 1).padStart(5)}  ${`${st.weight}%`.padStart(6)}  ${(st.startsAtMs ? `+${formatDuration(st.startsAtMs)}` : '0').padStart(9)}  ` +
        (last && st.observeMs === 0
          ? 'promotion'
          : `${formatDuration(st.observeMs).padEnd(8)}  ${st.checks}`),
    );
  }
  lines.push(
    '',
    `  checks every ${formatDuration(s.intervalMs)} on ${a.metrics.join(', ')} (${a.judge} judge, ` +
      `at least ${a.minSamples} samples per version)`,
    `  rollback after ${s.failureLimit} failed check${s.failureLimit === 1 ? '' : 's'} in a stage: at the earliest ${formatDuration(s.earliestRollbackMs)} after the problem starts`,
    `  promotion after ${formatDuration(s.minDurationMs)} at the earliest; deadline ${formatDuration(s.progressDeadlineMs)}`,
    ...renderDetection(s, plan),
  );
  if (plan.notify.length) lines.push(`  notify: ${plan.notify.map((n) => n.type).join(', ')}`);
  return lines.join('\n');
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number.');
  return n;
}

// Compact human views of a rollout's status and of the rollout list.
import { holdingOf, holdingText } from '../analysis/holding';
import { ALL_METRICS } from '../analysis/types';
import { formatMetricValue } from '../notify/format';
import { formatDuration } from '../plan/duration';
import type { RolloutSummary } from '../temporal/rollouts';
import { listedState, listedVersions } from '../temporal/list-parts';
import { hasEnded } from '../temporal/status-parts';
import { printable } from '../text/sanitize';
import type { RolloutStatus } from '../../workflows/messages';

function clock(iso: string): string {
  return iso.slice(11, 19);
}

/** Text from a rollout (reasons, names given by people): no terminal control sequences. */
const clean = (text: string) => printable(text, 2_000);

function pad(text: string, width: number): string {
  return text.length >= width ? `${text} ` : text.padEnd(width);
}

/**
 * The workflow computes observed time as of its last activation (a check, a command), not as of the
 * query, and says when (asOf); rollouts started before asOf existed fall back to the newest check or
 * decision time, close enough for a countdown.
 */
function asOf(s: RolloutStatus): number {
  if (s.asOf) return Date.parse(s.asOf);
  const times = [s.lastAnalysis?.at, s.decisions.at(-1)?.at].filter((t): t is string => !!t).map(Date.parse);
  return times.length ? Math.max(...times) : Date.parse(s.startedAt);
}

/** Status as a few lines, with the observation clock brought forward to `now`. */
export function renderStatus(
  s: RolloutStatus,
  opts: { now?: number; decisions?: number; verbose?: boolean } = {},
) {
  const running = s.state === 'progressing' && !s.execution && s.observing !== false;
  const since = running ? Math.max(0, (opts.now ?? Date.now()) - asOf(s)) : 0;
  // `extend` adds to the current stage's window.
  const window = (s.stages[s.stageIndex]?.observeMs ?? 0) + (s.extendedMs ?? 0);
  const observed = Math.min(window, s.observedMs + since);
  const remaining = running ? Math.max(0, window - observed) : s.remainingMs;
  const stage = s.stages[s.stageIndex];
  const finished = hasEnded(s);
  const e = s.execution;
  // A rollback with no check and no decision at a canary share above 0 is a start that failed (an unknown agent or
  // version the router refused), not a verdict on the canary: the dashboard says so too.
  const neverRouted = s.state === 'rolled_back' && !s.lastAnalysis && !s.decisions.some((d) => d.percent > 0);
  const headline = e
    ? `${e.status.replace('_', ' ')}${e.cause ? `: ${clean(e.cause)}` : ''} (rollout state when it stopped: ${s.state})`
    : neverRouted
      ? 'FAILED TO START (the canary never got traffic; stable kept all of it)'
      : s.state.replace(/_/g, ' ').toUpperCase();
  const lines = [
    `${s.agent}  ${s.stable} -> ${s.canary}  ${headline}  (${s.workflowId})`,
    `stage ${s.stageIndex + 1}/${s.stageCount}  canary ${s.canaryPercent}%` +
      (stage && window > 0 && !finished
        ? `  observed ${formatDuration(observed)} of ${formatDuration(window)}` +
          (s.extendedMs ? ` (extended by ${formatDuration(s.extendedMs)})` : '') +
          (remaining > 0 || !running ? `, ${formatDuration(remaining)} left` : ', window over')
        : '') +
      `  failed checks ${s.failedChecks}/${s.failureLimit}` +
      (s.inconclusiveStreak ? `  inconclusive streak ${s.inconclusiveStreak}` : '') +
      (s.state === 'progressing' && s.observing === false && !finished
        ? '  (clock stopped: no metrics)'
        : ''),
  ];
  if (stage?.shadow !== undefined && !finished) {
    lines.push(shadowLine(stage.shadow, s.lastAnalysis?.shadow), ...lossReasonLines(s.lastAnalysis?.shadow));
  }
  // Why the stage has not moved on, first: the per-metric table below says it too, but later.
  const holding = finished ? null : holdingOf(s, opts.now ?? Date.now());
  if (holding?.metric) lines.push(clean(holdingText(s, holding, formatDuration)));
  if (s.approval && !finished) {
    lines.push(
      s.approval.approvedBy
        ? `stage ${s.approval.stageIndex + 1} approved by ${clean(s.approval.approvedBy)}`
        : `stage ${s.approval.stageIndex + 1} has an approval gate` +
            (s.approval.waitingSince ? ', healthy and WAITING FOR APPROVAL' : '') +
            `: agent-canary approve ${s.agent}`,
    );
  }
  if (s.pausedOnFail?.holds && !finished) {
    lines.push(
      `PAUSED ON A FAILED CHECK (${s.pausedOnFail.metrics.map(clean).join(', ')}): ${clean(s.pausedOnFail.reason)}`,
      `  waits for a person${s.pausedOnFail.until ? ` until ${s.pausedOnFail.until.slice(11, 19)} UTC (then rolled back)` : ' (until the progress deadline)'};` +
        ` the canary keeps its ${s.canaryPercent}% and is judged on the data since the pause: rolled back at once only if clearly worse.` +
        ` Continue: agent-canary dismiss ${s.agent}   Move on: agent-canary promote ${s.agent}   End: agent-canary abort ${s.agent} --reason "..."`,
    );
  } else if (s.pausedOnFail && !finished) {
    lines.push(
      `PAUSED ON A FAILED CHECK (${s.pausedOnFail.metrics.map(clean).join(', ')}): ${clean(s.pausedOnFail.reason)}`,
      `  the canary keeps its ${s.canaryPercent}% and is still judged: a second failed check rolls back.` +
        ` Continue: agent-canary dismiss ${s.agent}   End: agent-canary abort ${s.agent} --reason "..."`,
    );
  }
  if (s.ending && !finished) lines.push(`${s.ending.state.replace('_', ' ')}: ${clean(s.ending.reason)}`);
  if (s.applying && !finished) {
    const took = Math.max(0, Math.round(((opts.now ?? Date.now()) - Date.parse(s.applying.since)) / 1000));
    lines.push(
      `waiting for the router to take "${s.applying.what}" (${took}s so far${s.applying.lastError ? `; last error: ${clean(s.applying.lastError)}` : ''}); retried until it lands`,
    );
  }
  const a = s.lastAnalysis;
  if (a) {
    // The verdict's reason repeats the per-metric reasons shown below; print it only when there are none.
    const why = a.metrics.length === 0 && a.reason ? ` ${clean(a.reason)}` : '';
    lines.push(`last check ${clock(a.at)}: ${a.verdict.toUpperCase()} (${a.judge})${why}`);
    lines.push(`  ${pad('metric', 18)}${pad('stable', 12)}${pad('canary', 12)}${pad('n', 14)}status`);
    // Built-in metrics first, in their usual order, then the plan's custom ones (analysis.custom).
    const builtin = new Set<string>(ALL_METRICS);
    const ordered = [
      ...ALL_METRICS.flatMap((name) => a.metrics.filter((m) => m.metric === name)),
      ...a.metrics.filter((m) => !builtin.has(m.metric)),
    ];
    for (const m of ordered) {
      const name = clean(m.metric);
      lines.push(
        `  ${pad(name, 18)}${pad(formatMetricValue(m.metric, m.stable), 12)}${pad(formatMetricValue(m.metric, m.canary), 12)}` +
          `${pad(`${m.stableSamples}/${m.canarySamples}`, 14)}${m.status}${m.reason ? `  ${clean(m.reason.replace(`${m.metric}: `, ''))}` : ''}`,
      );
      // The statistics behind the plain words, for those who want them.
      if (opts.verbose && m.stats?.detail) lines.push(`      ${clean(m.stats.detail)}`);
    }
    if (a.evaluator) lines.push(`  ${evaluatorLine(a.evaluator)}`);
    if (a.costPerSuccess) lines.push(`  ${successCostLine(a.costPerSuccess)}`);
  } else {
    lines.push('no check yet');
  }
  const recent = s.decisions.slice(-(opts.decisions ?? 5));
  if (recent.length) {
    lines.push('decisions:');
    for (const d of recent) {
      lines.push(
        `  ${clock(d.at)}  ${pad(d.action, 20)}${pad(`${d.percent}%`, 5)}by ${clean(d.by)}${d.reason ? `: ${clean(d.reason)}` : ''}`,
      );
    }
  }
  if (s.notifyFailures.length) {
    const f = s.notifyFailures[s.notifyFailures.length - 1];
    lines.push(`notifications: ${s.notifyFailures.length} failed, last to ${f.target}: ${clean(f.error)}`);
  }
  return lines.join('\n');
}

/** Temporal's execution status as the Web UI shows it ("Canceled", "Timed Out"), not the SDK's enum name. */
export function webUiStatus(status: string): string {
  const words: Record<string, string> = {
    RUNNING: 'Running',
    COMPLETED: 'Completed',
    FAILED: 'Failed',
    CANCELLED: 'Canceled',
    CANCELED: 'Canceled',
    TERMINATED: 'Terminated',
    TIMED_OUT: 'Timed Out',
    CONTINUED_AS_NEW: 'Continued As New',
  };
  return words[status.toUpperCase()] ?? status;
}

/** The shadow stage: nobody is served by the canary; what was mirrored and how the pairs went. */
function shadowLine(percent: number, v: NonNullable<RolloutStatus['lastAnalysis']>['shadow']): string {
  const head = `SHADOW STAGE: every user on stable; ${percent}% of requests mirrored to the canary, its answers discarded`;
  if (!v) return `${head}; no pairs judged yet`;
  const p = v.pairs;
  return `${head}; ${v.mirrored} mirrored, ${p.judged} pair(s) judged: ${p.wins} win / ${p.ties} tie / ${p.losses} loss`;
}

/** Under the shadow line: the evaluator's reasons for the latest losses, or how to see them. */
function lossReasonLines(v: NonNullable<RolloutStatus['lastAnalysis']>['shadow']): string[] {
  if (!v) return [];
  if (!v.lossReasons) {
    return [
      '  loss reasons: not kept (they may quote users); to see some, set evaluate.keepLossReasons in the gateway config',
    ];
  }
  if (v.lossReasons.length === 0) return ['  loss reasons: none kept yet'];
  return [
    `  the evaluator's reasons for the latest ${v.lossReasons.length} loss(es) (the stable was answer A):`,
    ...v.lossReasons.map((r) => `    - ${printable(r, 300)}`),
  ];
}

/** The online evaluator at the last check: its state, and what this rollout spent on it. */
function evaluatorLine(e: NonNullable<RolloutStatus['lastAnalysis']>['evaluator'] & object): string {
  const spend = `${e.calls} call(s), ${e.tokens.toLocaleString('en-US')} tokens this rollout`;
  return e.state === 'ok' || e.state === 'waiting'
    ? `evaluator: ${e.state}, ${spend}`
    : `evaluator: ${clean(e.reason ?? e.state)}; ${spend}`;
}

/** "cost per successful task: stable $0.0021 (40 tasks), canary $0.0034 (38 tasks)"; shown, not judged. */
function successCostLine(
  c: NonNullable<NonNullable<RolloutStatus['lastAnalysis']>['costPerSuccess']>,
): string {
  const side = (cost: number | null, tasks: number) =>
    cost === null
      ? 'no priced success yet'
      : `${formatMetricValue('cost_per_request', cost)} (${tasks} tasks)`;
  return `cost per successful task: stable ${side(c.stable, c.stableTasks)}, canary ${side(c.canary, c.canaryTasks)}`;
}

export function renderList(rows: RolloutSummary[]): string {
  if (rows.length === 0) return 'no rollouts';
  const header = ['AGENT', 'STATE', 'CANARY%', 'STABLE', 'CANARY', 'STATUS', 'STARTED'];
  const table = rows.map((r) => {
    const now = listedVersions(r);
    return [
      r.agent,
      // A terminated or failed execution is that, whatever state it last published; a rollback or an
      // abort closes as Failed or Canceled by the rollout's own decision and is named by its state.
      // In the dashboard's words ("rolled back"); the Temporal status as the Web UI writes it.
      listedState(r).replace(/_/g, ' '),
      r.percent === null ? '-' : String(r.percent),
      now.stable ?? '-',
      now.canary ?? '-',
      webUiStatus(r.status),
      r.startTime.replace('T', ' ').slice(0, 19),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)) + 2);
  return [header, ...table]
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

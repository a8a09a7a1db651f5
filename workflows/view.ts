// What the rollout shows: its status (the query's answer), the Web UI's current details and the
// search attributes, each a pure function of the plan, the policy's state and the time. No workflow
// APIs here: the interpreter (workflows/rollout.ts) calls these and publishes the results.
import { blankStatus, isFinal, type RolloutStatus } from '../src/contract';
import type { ResolvedPlan } from '../src/plan/schema';
import { formatDuration } from '../src/plan/duration';
import { plainReason } from '../src/ui/plain';
import { applying, holdDueAt, percentOf, windowMs, type PolicyState } from './policy';

/** The status query's answer at workflow time `now`. */
export function statusOf(plan: ResolvedPlan, s: PolicyState, now: number, workflowId: string): RolloutStatus {
  const stages = plan.stages;
  const progressing = s.state === 'progressing';
  const pending = progressing ? Math.max(0, now - s.accruedAt) : 0;
  const observeMs = windowMs(s, plan);
  const counting = progressing && s.stageApplied && s.covered;
  const observedMs = Math.min(observeMs, s.observedMs + (counting ? pending : 0));
  const write = applying(s);
  const holdUntil = holdDueAt(s, plan);
  return {
    asOf: new Date(now).toISOString(),
    workflowId,
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
            ...(holdUntil !== null ? { until: new Date(holdUntil).toISOString() } : {}),
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
    ...(s.ending && !isFinal(s.state) ? { ending: { state: s.ending.final, reason: s.ending.reason } } : {}),
  };
}

/**
 * The status while the first activity resolves a plan as written: nothing decided, no traffic moved,
 * and what it waits for. The names come from the plan as written when they are text.
 */
export function resolvingStatus(
  input: unknown,
  since: number,
  now: number,
  workflowId: string,
): RolloutStatus {
  const raw = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const name = (v: unknown) => (typeof v === 'string' ? v.slice(0, 200) : '');
  const at = new Date(since).toISOString();
  return {
    ...blankStatus(
      { workflowId, agent: name(raw.agent), stable: name(raw.stable), canary: name(raw.canary) },
      at,
    ),
    asOf: new Date(now).toISOString(),
    observing: false,
    applying: {
      what: 'resolving the plan as written (first activity)',
      since: at,
      attempts: 0,
      lastError: null,
    },
  };
}

/** The search attributes the rollout publishes, by key of messages.ts's SA (upserted on change only). */
export function searchAttributesOf(plan: ResolvedPlan, s: PolicyState) {
  return {
    agent: plan.agent,
    state: s.state,
    percent: Math.round(percentOf(s)),
    canaryVersion: plan.canary,
    stableVersion: s.state === 'promoted' ? plan.canary : plan.stable,
  } as const;
}

/**
 * The Web UI's "current details": markdown for people at a glance. `withPlan` for a run continued
 * as new, which shows no Details of its own: the plan's text (staticDetails) comes first.
 */
export function detailsOf(plan: ResolvedPlan, s: PolicyState, withPlan = false): string {
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
  return withPlan ? `${staticDetails(plan)}\n\n${lines.join('\n')}` : lines.join('\n');
}

function fmt(v: number | null): string {
  if (v === null) return 'n/a';
  return Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}

/** The Web UI's Summary of a rollout, set by the client at start. */
export function staticSummary(plan: ResolvedPlan): string {
  const stages = plan.stages
    .map((s) => {
      const share = s.shadow !== undefined ? `shadow ${s.shadow}%` : `${s.weight}%`;
      return s.observeMs > 0 ? `${share} ${formatDuration(s.observeMs)}` : share;
    })
    .join(', ');
  return `${plan.agent}: ${plan.stable} -> ${plan.canary} (${stages})`;
}

/**
 * The Web UI's Details of a rollout (its plan), set by the client at start. A run continued as new
 * has no Summary or Details of its own (the SDK's continueAsNew cannot give them), so its Current
 * Details carry this text too (detailsOf).
 */
export function staticDetails(plan: ResolvedPlan): string {
  const a = plan.analysis;
  return [
    `**${plan.agent}** canary \`${plan.canary}\` against stable \`${plan.stable}\``,
    '',
    '| stage | canary % | observe |',
    '|---|---|---|',
    ...plan.stages.map(
      (s, i) =>
        `| ${i + 1} | ${s.shadow !== undefined ? `0 (shadow ${s.shadow}% mirrored)` : s.weight} | ${s.observeMs ? formatDuration(s.observeMs) : '-'} |`,
    ),
    '',
    `checks every ${formatDuration(a.intervalMs)}, ${a.judge} judge on ${a.metrics.join(', ')}; ` +
      `rollback after ${a.failureLimit} failed check${a.failureLimit === 1 ? '' : 's'}; deadline ${formatDuration(plan.progressDeadlineMs)}`,
    ...(a.onFail
      ? [
          `on a failed check: ${Object.entries(a.onFail)
            .map(([metric, action]) =>
              metric === 'timeout' && typeof action === 'number'
                ? `waits at most ${formatDuration(action)}`
                : `${metric} ${action}`,
            )
            .join(
              ', ',
            )} (pause waits for a person and keeps judging; a clearly worse canary still rolls back)`,
        ]
      : []),
    // Web UI 2.42 sizes its markdown frame to the body without the body's margin, so the last
    // ~16px are cut off: a rule there is what gets cut, not the text (docs/web-ui.md).
    '',
    '---',
  ].join('\n');
}

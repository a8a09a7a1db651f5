// The one admission rule for commands: whether a command can be taken now, and why not. The workflow
// asks it of its own state (Update validators, Signals, and the reducer itself); agent-canary's client
// and the dashboard ask it of the status they read (src/temporal/rollouts.ts admitCommand), so a
// person is told the same reason whichever way the command comes. Pure and zero-dependency.
import { MAX_OBSERVE_MS, isFinal, type RolloutState, type RolloutStatus } from '../../src/contract';
import { formatDuration } from '../../src/plan/duration';
import type { ResolvedPlan } from '../../src/plan/schema';
import { windowMs } from './context';
import type { Command, PolicyState } from './types';

/** What admission looks at, as the workflow's state or a status read by a client shows it. */
export interface AdmissionView {
  state: RolloutState;
  /** An abort accepted and under way. */
  aborting: { reason: string } | null;
  /** The rollout is ending (abort, rollback) and waits for its stable write. */
  ending: { final: RolloutState; reason: string } | null;
  pausedOnFail: boolean;
  /** The rollout has gates (patch gates-v1). */
  gates: boolean;
  /** A promotion accepted and under way (unknown to clients: false there; the workflow has the last word). */
  promoting: boolean;
  /** The first stage's split is in place. */
  stageApplied: boolean;
  failedChecks: number;
  /** The current stage's window and its observation so far (ms); undefined when not known. */
  windowMs?: number;
  observedMs?: number;
  /** Progress deadline left, and in all (ms); undefined when not known. */
  deadlineLeftMs?: number;
  deadlineMs?: number;
  /** The stage an approval would open: whether it has a gate, and who approved it already. */
  approval: { stageIndex: number; gate: boolean; approvedBy: string | null } | null;
}

/** Why the command cannot be taken now, or null when it can. */
export function admission(v: AdmissionView, cmd: Command): string | null {
  if (isFinal(v.state)) return `the rollout is already ${v.state.replace('_', ' ')}; nothing to ${cmd.kind}`;
  if (v.aborting) return `the rollout is being aborted (${v.aborting.reason})`;
  if (v.ending) return `the rollout is being ${v.ending.final.replace('_', ' ')} (${v.ending.reason})`;
  switch (cmd.kind) {
    case 'pause':
      return v.state === 'paused' ? 'the rollout is already paused' : null;
    case 'resume':
      if (v.pausedOnFail) {
        return v.gates
          ? 'the rollout is paused on a failed check: `dismiss` clears the failure and continues, `promote` moves on, `abort` ends it'
          : 'the rollout is paused on a failed check: `dismiss` clears the failure and continues, `abort` ends it';
      }
      return v.state !== 'paused' ? 'the rollout is not paused' : null;
    case 'promote':
      return v.promoting ? 'a promotion is already under way' : null;
    case 'abort':
      return null;
    case 'extend':
      return extendRefusal(v, cmd.input.duration);
    case 'dismiss':
      return v.failedChecks === 0 && !v.pausedOnFail
        ? 'there is nothing to dismiss: no check failed in this stage'
        : null;
    case 'approve':
      return approveRefusal(v);
  }
}

function approveRefusal(v: AdmissionView): string | null {
  if (!v.gates || !v.approval) return 'this rollout has no approval gates (it started before they existed)';
  if (v.promoting) return 'a promotion is under way: there is no stage to approve';
  const { stageIndex, gate, approvedBy } = v.approval;
  if (!gate)
    return `stage ${stageIndex + 1} has no approval gate (approval: true in the plan); nothing to approve`;
  if (approvedBy !== null) return `stage ${stageIndex + 1} is already approved (by ${approvedBy})`;
  return null;
}

function extendRefusal(v: AdmissionView, duration: number): string | null {
  if (!v.stageApplied) return "nothing is being observed yet: the first stage's split is not in place";
  if (v.promoting) return 'a promotion is under way: there is no stage to observe longer';
  if (v.windowMs === undefined || v.observedMs === undefined || v.deadlineLeftMs === undefined) return null;
  const window = v.windowMs + duration;
  if (window > MAX_OBSERVE_MS) {
    return `the stage would observe for ${formatDuration(window)}, above the limit of ${formatDuration(MAX_OBSERVE_MS)}`;
  }
  const needed = Math.max(0, window - v.observedMs);
  const left = Math.max(0, v.deadlineLeftMs);
  if (needed > left) {
    const of = v.deadlineMs !== undefined ? ` of ${formatDuration(v.deadlineMs)}` : '';
    return (
      `the stage would need ${formatDuration(needed)} more, past the progress deadline ` +
      `(${formatDuration(left)}${of} left); extend by less`
    );
  }
  return null;
}

/** The admission view of a status as the workflow answered it (clients, the dashboard). */
export function admissionViewOfStatus(st: RolloutStatus): AdmissionView {
  const asOf = st.asOf ? Date.parse(st.asOf) : Date.now();
  return {
    state: st.state,
    aborting: null,
    ending: st.ending ? { final: st.ending.state, reason: st.ending.reason } : null,
    pausedOnFail: !!st.pausedOnFail,
    // Only a pause on fail says whether it holds; for `approve` the stage's own gate is what counts.
    gates: st.pausedOnFail ? !!st.pausedOnFail.holds : true,
    promoting: false,
    stageApplied: st.decisions.some((d) => d.action === 'stage_started'),
    failedChecks: st.failedChecks,
    windowMs: st.observedMs + st.remainingMs,
    observedMs: st.observedMs,
    deadlineLeftMs: Math.max(0, Date.parse(st.deadlineAt) - asOf),
    // The status shows an approval only for a stage that has a gate.
    approval: st.approval
      ? { stageIndex: st.approval.stageIndex, gate: true, approvedBy: st.approval.approvedBy }
      : { stageIndex: st.stageIndex, gate: false, approvedBy: null },
  };
}

/** The admission view of the workflow's own state. */
export function admissionViewOfState(s: PolicyState, plan: ResolvedPlan | undefined): AdmissionView {
  const index = s.stageApplied ? s.stageIndex : 0;
  return {
    state: s.state,
    aborting: s.pendingAbort,
    ending: s.ending,
    pausedOnFail: !!s.pausedOnFail,
    gates: !!s.gates,
    promoting: !!s.pendingPromote,
    stageApplied: s.stageApplied,
    failedChecks: s.failedChecks,
    ...(plan
      ? {
          windowMs: windowMs(s, plan),
          observedMs: s.observedMs,
          deadlineLeftMs: plan.progressDeadlineMs - s.activeMs,
          deadlineMs: plan.progressDeadlineMs,
        }
      : {}),
    approval: plan
      ? {
          stageIndex: index,
          gate: !!plan.stages[index]?.approval,
          approvedBy: s.approved?.stageIndex === index ? s.approved.by : null,
        }
      : null,
  };
}

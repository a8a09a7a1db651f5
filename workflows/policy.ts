// The rollout policy as one pure reducer: step(state, plan, event, now) -> { state, effects, wakeAt }.
// The workflow (workflows/canary.ts) only carries effects out and feeds their outcomes back as
// events; the judge simulation (bench/judge-sim.ts) drives the same function with simulated time and
// traffic, and test/policy.test.ts tests it without a server. No workflow APIs, no I/O, no clocks:
// time comes in as `now`.
//
// Shape of the loop. At most one traffic operation is in flight at a time: a split write or a check
// (which renews the lease, then reads metrics and judges). Commands never wait behind it: an abort
// or a promotion drops the operation in flight (the interpreter cancels it and ignores its late
// outcome, matched by opId) and issues its own write at once. Writes carry `decidedAt`, so a router
// that honours it ignores a late write from a dropped operation.
import type { Verdict } from '../src/analysis/types';
import { judgeAcrossStages, passMultiple, type Evidence } from '../src/analysis/evidence';
import type { NotifyEventType } from '../src/notify/types';
import { formatDuration } from '../src/plan/duration';
import { onFailForCheck, onFailTimeoutMs } from '../src/plan/on-fail';
import type { HookType, ResolvedPlan } from '../src/plan/schema';
import { clearWorsening, regressions } from './hold';
import {
  isFinal,
  type AbortInput,
  type ApproveInput,
  type Decision,
  type DismissInput,
  type ExtendInput,
  type LastAnalysis,
  type NotifyFailure,
  type PauseInput,
  type PromoteInput,
  type ResumeInput,
  type RolloutResult,
  type RolloutState,
} from '../src/contract';
import { MAX_OBSERVE_MS, SYSTEM_ACTOR } from '../src/contract/names';

export { SYSTEM_ACTOR };
export const MAX_DECISIONS = 200;
export const MAX_NOTIFY_FAILURES = 20;
const UNKNOWN_ACTOR = 'unknown';

export type Command =
  | { kind: 'pause'; input: PauseInput }
  | { kind: 'resume'; input: ResumeInput }
  | { kind: 'promote'; input: PromoteInput }
  | { kind: 'abort'; input: AbortInput }
  | { kind: 'extend'; input: ExtendInput }
  | { kind: 'dismiss'; input: DismissInput }
  | { kind: 'approve'; input: ApproveInput };

/** Hooks whose answer decides whether the rollout goes on (the others are only told). */
export type GateHook = Extract<HookType, 'pre-rollout' | 'confirm-traffic-increase' | 'confirm-promotion'>;

/** What a traffic write is for; decides what its landing means. */
export type WritePurpose = 'stage' | 'promote' | 'stable';

export interface Write {
  purpose: WritePurpose;
  /** The stage this write puts in place (for promote: the last stage). */
  stageIndex: number;
  /** Canary percent asked for (0 for stable and promote). */
  weight: number;
  /** For the Web UI's activity summary and the status line. */
  label: string;
  /** Who caused it and why, for the decision recorded when it lands. */
  by: string;
  reason: string;
  /** It carries out the pending promotion. */
  forPromote?: boolean;
}

/** What the interpreter is doing for the policy right now. */
export type Inflight =
  | {
      kind: 'write';
      opId: number;
      write: Write;
      /** Workflow time the write was first asked for, and how often it timed out since. */
      since: number;
      attempts: number;
      lastError: string | null;
    }
  | { kind: 'check'; opId: number; since: number; until: number; stageIndex: number }
  /** Gates: the plan's hooks of this type are called; the write follows when they all answer 2xx. */
  | { kind: 'hook'; opId: number; hook: GateHook; then: Write; since: number };

/** Why the rollout is being ended with all traffic on stable (the write under way). */
export interface Ending {
  final: 'rolled_back' | 'aborted';
  by: string;
  reason: string;
  verdict?: Verdict;
  /** Set when the rollout ends because of a configuration error: the workflow fails with it. */
  failure?: string;
  /** Ended by workflow cancellation: the workflow reports itself cancelled once stable is written. */
  cancelled?: boolean;
}

/** Everything a rollout needs to go on, JSON-safe: carried across continue-as-new as is. */
export interface PolicyState {
  version: 2;
  state: RolloutState;
  /** The stage in place at the router; it moves only once the router confirmed its split. */
  stageIndex: number;
  /** False until the first stage's split is confirmed; the stage's clock runs only after. */
  stageApplied: boolean;
  /** The canary percent the router confirmed last (what status may claim). */
  appliedWeight: number;
  /** Epoch ms (workflow time) when the current stage's split was confirmed: the data window start. */
  stageStartedAt: number;
  /** Observation time accrued in this stage while progressing with metrics coverage. */
  observedMs: number;
  /** observedMs as of the last check that had metrics: an outage takes back the time since. */
  observedAtCoveredCheck: number;
  /** The last check had metrics; false from a metrics outage until the next check that has them. */
  covered: boolean;
  /** Time accrued while not paused since the start, for progressDeadline. */
  activeMs: number;
  /** Last time observedMs/activeMs were brought up to date. */
  accruedAt: number;
  startedAt: number;
  failedChecks: number;
  passedChecks: number;
  /** Inconclusive checks past the window (or any without metrics) in a row. */
  inconclusiveStreak: number;
  /** Checks in a row without metrics (outage) or without a renewed lease. */
  outageStreak: number;
  nextCheckAt: number;
  lastAnalysis: LastAnalysis | null;
  decisions: Decision[];
  notifyFailures: NotifyFailure[];
  /** Commands accepted and waiting for their traffic change. */
  pendingPromote: { full: boolean; by: string; reason: string } | null;
  pendingAbort: { by: string; reason: string } | null;
  ending: Ending | null;
  inflight: Inflight | null;
  /** Last operation id handed out: outcomes of dropped operations are told apart by it. */
  opSeq: number;
  result: RolloutResult | null;
  /**
   * Decision rules the rollout started with (absent: the rules before "judge-v3"). 3: evidence about
   * the canary is carried across stages, each stage rules out its share of the minimum effect, and a
   * stage extends while the progress deadline leaves room for the later stages (no pause).
   */
  rules?: 3;
  /**
   * Rules 3 judged with conversations as the unit (patch judge-v4, src/analysis/evidence.ts
   * judgeRolloutV4): untempered per-conversation evidence, incidents on both versions held.
   */
  judgeV4?: true;
  /** Rules 3: the summed evidence of the stages before this one, and as of this stage's last check. */
  carried?: Evidence;
  evidence?: Evidence;
  // Optional so that states carried by runs before these commands existed stay valid as they are.
  /** Observation added to the current stage by `extend`; back to 0 at the next stage. */
  extendedMs?: number;
  /** Paused by a failed check on metrics whose onFail is pause; cleared by dismiss or a new stage. */
  pausedOnFail?: {
    at: number;
    metrics: string[];
    reason: string;
    /** Gates: each paused metric's regression when it paused (workflows/hold.ts). */
    regression?: Record<string, number>;
  } | null;
  /**
   * Gates (patch "gates-v1", docs/gates.md): a pause on a failed check holds for a person, stages
   * may wait for approval, and the plan's hooks are called. Absent in runs started before.
   */
  gates?: 1;
  /** Gates: the stage whose approval was given, by whom; and since when a stage waits for one. */
  approved?: { stageIndex: number; by: string } | null;
  awaitingApproval?: number | null;
  /** Gates: the pre-rollout hooks answered 2xx (they are not called again after continue-as-new). */
  preRolloutDone?: boolean;
  /**
   * How checks are scheduled (absent: a timer, then the check, due from the end of the last one).
   * deferred: the next check is handed to the activity as soon as the last one is done, with the time
   * it is due (`at`); the activity renews the lease, waits until then and judges. One activity and one
   * workflow task per check, no timer, and the cadence is anchored to the stage start.
   */
  checks?: 'deferred';
}

/** The result of one check, as the check activity reports it. */
export type CheckOutcome =
  | {
      metrics: 'ok';
      verdict: Verdict;
      /** Sample sizes behind the verdict, for charts and reports. */
      stableRequests?: number;
      canaryRequests?: number;
      /** The source holds data only from here (e.g. a gateway restart lost its metrics before). */
      coveredSince?: number;
    }
  /** The metrics source did not answer (5xx, timeout, refused): not evidence either way. */
  | { metrics: 'outage'; message: string };

export type FailureKind = 'config' | 'outage';

export type PolicyEvent =
  /** `retry`: this run starts again a rollout that ended (rolled back, aborted), by whom and why. */
  | { type: 'start'; retry?: { by: string; reason: string; previousRunId: string } }
  /** A new run after continue-as-new: the split of the current stage is in place. */
  | { type: 'continued' }
  /** Time passed (the wake-up timer fired). */
  | { type: 'tick' }
  | { type: 'command'; command: Command }
  | { type: 'cancelled' }
  | { type: 'write_done'; opId: number }
  | { type: 'check_done'; opId: number; outcome: CheckOutcome }
  /** The gate hooks answered: ok, or the first failing hook's answer as the reason. */
  | { type: 'hook_done'; opId: number; ok: boolean; reason: string }
  /**
   * The run is about to continue as new: a deferred check waiting for its time is given up (the new
   * run asks for it again, due at the same time). Nothing else starts in this step.
   */
  | { type: 'suspend' }
  /**
   * The operation failed. config: refused for good (a 4xx, unknown agent or version, bad credentials);
   * outage: it kept failing for its time budget (router or metrics source down, timeouts).
   */
  | { type: 'op_failed'; opId: number; kind: FailureKind; message: string };

export type Effect =
  | { type: 'write'; opId: number; write: Write; decidedAt: number; leaseMs: number | null }
  | {
      type: 'check';
      opId: number;
      since: number;
      until: number;
      stageIndex: number;
      weight: number;
      /** Deferred checks: when the check is due (epoch ms); the activity waits until then. */
      at?: number;
    }
  /** Stop waiting for this operation; its late outcome is ignored. */
  | { type: 'drop'; opId: number }
  | { type: 'notify'; event: NotifyEventType; by: string; reason: string; verdict?: Verdict }
  /** Call the plan's hooks of this type: gate hooks answer with hook_done; the others are only told. */
  | { type: 'hook'; opId: number; hook: HookType; stageIndex: number; weight: number; reason: string }
  | { type: 'finish'; result: RolloutResult; failure?: string; cancelled?: boolean };

export interface StepResult {
  state: PolicyState;
  effects: Effect[];
  /** When the policy wants a tick if nothing else happens first; null while waiting on an operation. */
  wakeAt: number | null;
}

export function initialState(now: number, rules?: 3, checks?: 'deferred', gates?: 1): PolicyState {
  return {
    ...(gates ? { gates } : {}),
    ...(rules ? { rules } : {}),
    ...(checks ? { checks } : {}),
    version: 2,
    state: 'progressing',
    stageIndex: 0,
    stageApplied: false,
    appliedWeight: 0,
    stageStartedAt: now,
    observedMs: 0,
    observedAtCoveredCheck: 0,
    covered: true,
    activeMs: 0,
    accruedAt: now,
    startedAt: now,
    failedChecks: 0,
    passedChecks: 0,
    inconclusiveStreak: 0,
    outageStreak: 0,
    nextCheckAt: now,
    lastAnalysis: null,
    decisions: [],
    notifyFailures: [],
    pendingPromote: null,
    pendingAbort: null,
    ending: null,
    inflight: null,
    opSeq: 0,
    result: null,
  };
}

/** The canary's share of traffic right now, as the router has been told. */
export function percentOf(s: PolicyState): number {
  if (s.state === 'promoted') return 100;
  if (s.state === 'rolled_back' || s.state === 'aborted') return 0;
  return s.appliedWeight;
}

/** Why a command cannot be taken now, or null when it can. Updates turn this into a refusal. */
export function refusal(s: PolicyState, cmd: Command, plan?: ResolvedPlan): string | null {
  if (isFinal(s.state)) return `the rollout is already ${s.state.replace('_', ' ')}; nothing to ${cmd.kind}`;
  if (s.pendingAbort) return `the rollout is being aborted (${s.pendingAbort.reason})`;
  if (s.ending) return `the rollout is being ${s.ending.final.replace('_', ' ')} (${s.ending.reason})`;
  switch (cmd.kind) {
    case 'pause':
      return s.state === 'paused' ? 'the rollout is already paused' : null;
    case 'resume':
      if (s.pausedOnFail) {
        return s.gates
          ? 'the rollout is paused on a failed check: `dismiss` clears the failure and continues, `promote` moves on, `abort` ends it'
          : 'the rollout is paused on a failed check: `dismiss` clears the failure and continues, `abort` ends it';
      }
      return s.state !== 'paused' ? 'the rollout is not paused' : null;
    case 'promote':
      return s.pendingPromote ? 'a promotion is already under way' : null;
    case 'abort':
      return null;
    case 'extend':
      return extendRefusal(s, plan, cmd.input);
    case 'dismiss':
      return s.failedChecks === 0 && !s.pausedOnFail
        ? 'there is nothing to dismiss: no check failed in this stage'
        : null;
    case 'approve':
      return approveRefusal(s, plan);
  }
}

function approveRefusal(s: PolicyState, plan: ResolvedPlan | undefined): string | null {
  if (!s.gates || !plan) return 'this rollout has no approval gates (it started before they existed)';
  if (s.pendingPromote) return 'a promotion is under way: there is no stage to approve';
  const index = s.stageApplied ? s.stageIndex : 0;
  if (!plan.stages[index]?.approval) {
    return `stage ${index + 1} has no approval gate (approval: true in the plan); nothing to approve`;
  }
  if (s.approved?.stageIndex === index) return `stage ${index + 1} is already approved (by ${s.approved.by})`;
  return null;
}

/** The current stage's observation window, with what `extend` added. */
export function windowMs(s: PolicyState, plan: ResolvedPlan): number {
  return (plan.stages[s.stageIndex]?.observeMs ?? 0) + (s.extendedMs ?? 0);
}

function extendRefusal(s: PolicyState, plan: ResolvedPlan | undefined, input: ExtendInput): string | null {
  if (!s.stageApplied) return "nothing is being observed yet: the first stage's split is not in place";
  if (s.pendingPromote) return 'a promotion is under way: there is no stage to observe longer';
  if (!plan) return null;
  const window = windowMs(s, plan) + input.duration;
  if (window > MAX_OBSERVE_MS) {
    return `the stage would observe for ${formatDuration(window)}, above the limit of ${formatDuration(MAX_OBSERVE_MS)}`;
  }
  const needed = Math.max(0, window - s.observedMs);
  const left = Math.max(0, plan.progressDeadlineMs - s.activeMs);
  if (needed > left) {
    return (
      `the stage would need ${formatDuration(needed)} more, past the progress deadline ` +
      `(${formatDuration(left)} of ${formatDuration(plan.progressDeadlineMs)} left); extend by less`
    );
  }
  return null;
}

/** True once the effect of an accepted command has happened (what an Update waits for). */
export function settled(s: PolicyState, kind: Command['kind']): boolean {
  if (kind === 'abort') return isFinal(s.state);
  if (kind === 'promote') return s.pendingPromote === null || isFinal(s.state);
  return true;
}

/** The traffic write the rollout is waiting on, for status ("waiting for the router"). */
export function applying(s: PolicyState): Extract<Inflight, { kind: 'write' }> | null {
  return s.inflight?.kind === 'write' ? s.inflight : null;
}

// ---- the reducer -------------------------------------------------------------------------------

export function step(prev: PolicyState, plan: ResolvedPlan, event: PolicyEvent, now: number): StepResult {
  const s: PolicyState = {
    ...prev,
    decisions: [...prev.decisions],
    notifyFailures: [...prev.notifyFailures],
  };
  const fx: Effect[] = [];
  if (s.result) return { state: s, effects: fx, wakeAt: null };
  accrue(s, now);
  const ctx: Ctx = { s, plan, fx, now };

  switch (event.type) {
    case 'start':
      if (event.retry) {
        decide(
          ctx,
          'started',
          event.retry.by,
          `retry of run ${event.retry.previousRunId}: ${event.retry.reason}`,
        );
      } else decide(ctx, 'started', SYSTEM_ACTOR, 'rollout started');
      notify(ctx, 'started', SYSTEM_ACTOR, `rolling out ${plan.canary} over ${plan.stages.length} stages`);
      break;
    case 'continued':
      // A deferred check was given up for the new run: it is due when it was (see 'suspend').
      if (s.checks !== 'deferred') s.nextCheckAt = now;
      break;
    case 'suspend':
      if (s.inflight?.kind === 'check') drop(ctx);
      return { state: s, effects: fx, wakeAt: null };
    case 'tick':
      break;
    case 'command':
      takeCommand(ctx, event.command);
      break;
    case 'cancelled':
      if (!s.ending || !s.ending.cancelled) {
        s.pendingAbort = null;
        s.ending = { final: 'aborted', by: 'cancel', reason: 'workflow cancelled', cancelled: true };
        preempt(ctx);
      }
      break;
    case 'write_done':
      if (isCurrent(s, event.opId)) writeLanded(ctx);
      break;
    case 'check_done':
      if (isCurrent(s, event.opId)) checkDone(ctx, event.outcome);
      break;
    case 'hook_done':
      if (isCurrent(s, event.opId)) hookDone(ctx, event.ok, event.reason);
      break;
    case 'op_failed':
      if (!isCurrent(s, event.opId)) break;
      if (s.inflight!.kind === 'hook') {
        // The hook activity answers every failure of a hook itself: this is the activity failing.
        hookDone(ctx, false, `hook call failed: ${event.message}`);
      } else if (s.inflight!.kind === 'write') {
        writeFailed(ctx, event.kind, event.message);
      } else {
        s.inflight = null;
        if (event.kind === 'config') {
          endWithStable(ctx, {
            final: 'rolled_back',
            by: SYSTEM_ACTOR,
            reason: `configuration error, canary withdrawn: ${event.message}`,
            failure: event.message,
          });
        } else {
          // The lease renewal (or the whole check) ran out of time: not evidence, and said so.
          s.inflight = { kind: 'check', opId: event.opId, since: 0, until: 0, stageIndex: s.stageIndex };
          checkDone(ctx, { metrics: 'outage', message: event.message }, true);
        }
      }
      break;
  }
  advance(ctx);
  return { state: s, effects: fx, wakeAt: s.result || s.inflight ? null : wakeAt(s, plan, now) };
}

interface Ctx {
  s: PolicyState;
  plan: ResolvedPlan;
  fx: Effect[];
  now: number;
}

/** Gates: paused on a failed check, holding for a person (judged on the data since the pause). */
function holding(s: PolicyState): boolean {
  return s.gates === 1 && !!s.pausedOnFail && s.state === 'paused';
}

function isCurrent(s: PolicyState, opId: number): boolean {
  return s.inflight !== null && s.inflight.opId === opId;
}

/** Brings the pausable clocks up to `now`. */
function accrue(s: PolicyState, now: number): void {
  const elapsed = Math.max(0, now - s.accruedAt);
  if (s.state === 'progressing') {
    // A stage waiting for approval is judged all along; the person's time is not the canary's.
    if (!s.awaitingApproval) s.activeMs += elapsed;
    if (s.stageApplied && s.covered) s.observedMs += elapsed;
  } else if (holding(s) && !s.awaitingApproval) {
    // The canary keeps its share while a pause on a failed check holds: the deadline still runs.
    s.activeMs += elapsed;
  }
  s.accruedAt = now;
}

function decide(ctx: Ctx, action: Decision['action'], by: string, reason: string): void {
  const { s, now } = ctx;
  s.decisions.push({
    at: new Date(now).toISOString(),
    action,
    by,
    reason,
    stageIndex: s.stageIndex,
    percent: percentOf(s),
  });
  if (s.decisions.length > MAX_DECISIONS) s.decisions.splice(0, s.decisions.length - MAX_DECISIONS);
}

function notify(ctx: Ctx, event: NotifyEventType, by: string, reason: string, verdict?: Verdict): void {
  if (ctx.plan.notify.length === 0) return;
  ctx.fx.push({ type: 'notify', event, by, reason, ...(verdict ? { verdict } : {}) });
}

function takeCommand(ctx: Ctx, cmd: Command): void {
  const { s } = ctx;
  if (refusal(s, cmd, ctx.plan)) return; // Signals may arrive for a state that no longer allows them.
  const by = cmd.input.by || UNKNOWN_ACTOR;
  switch (cmd.kind) {
    case 'pause': {
      const reason = cmd.input.reason || 'paused by hand';
      s.state = 'paused';
      decide(ctx, 'paused', by, reason);
      notify(ctx, 'paused', by, reason);
      break;
    }
    case 'resume': {
      const reason = cmd.input.reason || 'resumed by hand';
      s.state = 'progressing';
      s.inconclusiveStreak = 0;
      decide(ctx, 'resumed', by, reason);
      notify(ctx, 'resumed', by, reason);
      break;
    }
    case 'promote':
      s.pendingPromote = {
        full: cmd.input.full === true,
        by,
        reason: cmd.input.reason || (cmd.input.full ? 'promoted to 100% by hand' : 'next stage by hand'),
      };
      // A check in flight says nothing about the stage the operator moves to: drop it. A gate hook
      // in flight asks for the move the person now makes: dropped too (docs/gates.md).
      if (s.inflight?.kind === 'check' || s.inflight?.kind === 'hook') drop(ctx);
      break;
    case 'abort':
      s.pendingAbort = { by, reason: cmd.input.reason };
      s.ending = { final: 'aborted', by, reason: cmd.input.reason };
      preempt(ctx);
      break;
    case 'extend': {
      s.extendedMs = (s.extendedMs ?? 0) + cmd.input.duration;
      const why = cmd.input.reason || 'more observation asked for by hand';
      decide(
        ctx,
        'extended',
        by,
        `${why}: +${formatDuration(cmd.input.duration)}, stage window now ${formatDuration(windowMs(s, ctx.plan))}`,
      );
      break;
    }
    case 'dismiss':
      dismiss(ctx, by, cmd.input.reason || 'failed checks dismissed by hand');
      break;
    case 'approve':
      approve(ctx, by, cmd.input.reason || 'approved by hand');
      break;
  }
}

/**
 * The stage's gate opens. When its window already ended on a passing check, it moves on now;
 * otherwise it moves on at the end of its window like any stage.
 */
function approve(ctx: Ctx, by: string, reason: string): void {
  const { s } = ctx;
  const index = s.stageApplied ? s.stageIndex : 0;
  s.approved = { stageIndex: index, by };
  decide(ctx, 'approved', by, `stage ${index + 1} approved: ${reason}`);
  notify(ctx, 'approved', by, `stage ${index + 1} approved: ${reason}`);
  // A deferred check waiting for its time says nothing new about a stage already healthy: the
  // person's approval moves it on now rather than at that check.
  if (s.awaitingApproval && s.checks === 'deferred' && s.inflight?.kind === 'check') drop(ctx);
  if (
    s.awaitingApproval &&
    s.state === 'progressing' &&
    !s.inflight &&
    s.lastAnalysis?.verdict === 'pass' &&
    s.observedMs >= windowMs(s, ctx.plan)
  ) {
    nextStage(ctx, `stage ${index + 1} healthy and approved by ${by}`);
  }
}

/**
 * The failed checks are set aside, and with them the data they judged: the stage's window starts
 * again on fresh data (a sequential judge would otherwise fail again on the same evidence), and the
 * stage needs its whole observation before it advances.
 */
function dismiss(ctx: Ctx, by: string, reason: string): void {
  const { s, plan, now } = ctx;
  const cleared = s.failedChecks;
  const onFail = s.pausedOnFail;
  s.failedChecks = 0;
  s.pausedOnFail = null;
  s.passedChecks = 0;
  s.inconclusiveStreak = 0;
  s.stageStartedAt = now;
  s.observedMs = 0;
  s.observedAtCoveredCheck = 0;
  // A check in flight judges the dismissed window: drop it, and check again within half an interval
  // so the lease (at least two intervals) is renewed in time even if the dropped check had not yet.
  const dropped = s.inflight?.kind === 'check';
  if (dropped) drop(ctx);
  s.nextCheckAt = now + (dropped ? Math.ceil(plan.analysis.intervalMs / 2) : plan.analysis.intervalMs);
  if (onFail) s.state = 'progressing';
  const what = `${cleared} failed check${cleared === 1 ? '' : 's'} cleared${onFail ? ', pause on failure lifted' : ''}`;
  decide(ctx, 'dismissed', by, `${reason} (${what}; the stage's window starts again)`);
  if (onFail) notify(ctx, s.gates ? 'dismissed' : 'resumed', by, reason);
}

/** A failed check on metrics whose onFail is pause: a person decides, while judging goes on. */
function pauseOnFail(ctx: Ctx, metrics: string[], verdict: Verdict): void {
  const { s } = ctx;
  const reason =
    `check failed on ${metrics.join(', ')} (onFail: pause): ${verdict.reason}; paused with the canary share kept ` +
    'and still judged (a second failed check rolls back); `dismiss` to continue, `abort` to end';
  s.state = 'paused';
  s.pausedOnFail = { at: ctx.now, metrics, reason: verdict.reason };
  if (s.gates) {
    s.pausedOnFail.regression = regressions(verdict, metrics);
    const timeout = onFailTimeoutMs(ctx.plan.analysis.onFail);
    const held =
      `check failed on ${metrics.join(', ')} (onFail: pause): ${verdict.reason}; paused with the canary share kept, ` +
      `waiting for a person ${timeout ? `for up to ${formatDuration(timeout)} (then rolled back)` : 'until the progress deadline'}; ` +
      'still judged on the data since the pause, rolled back at once only if clearly worse; ' +
      '`dismiss` to continue, `promote` to move on, `abort` to end';
    decide(ctx, 'paused_on_fail', SYSTEM_ACTOR, held);
    notify(ctx, 'paused_on_fail', SYSTEM_ACTOR, held, verdict);
    return;
  }
  decide(ctx, 'paused_on_fail', SYSTEM_ACTOR, reason);
  notify(ctx, 'paused', SYSTEM_ACTOR, reason, verdict);
}

/** An ending goes first: whatever is in flight (a check, a canary write) is dropped. */
function preempt(ctx: Ctx): void {
  const f = ctx.s.inflight;
  if (f && !(f.kind === 'write' && f.write.purpose === 'stable')) drop(ctx);
}

function drop(ctx: Ctx): void {
  if (!ctx.s.inflight) return;
  ctx.fx.push({ type: 'drop', opId: ctx.s.inflight.opId });
  ctx.s.inflight = null;
}

function endWithStable(ctx: Ctx, ending: Ending): void {
  const { s } = ctx;
  if (s.ending?.cancelled) return;
  s.ending = ending;
  preempt(ctx);
}

function finish(ctx: Ctx, state: RolloutState, stable: string, reason: string, extra: Partial<Effect> = {}) {
  const { s } = ctx;
  s.state = state;
  s.inflight = null;
  s.pendingAbort = null;
  s.pendingPromote = null;
  s.result = { state, stable, reason };
  ctx.fx.push({ type: 'finish', result: s.result, ...(extra as object) });
  if (s.gates) {
    // Told, not asked: their answers change nothing (failures are kept with the notify failures).
    if (state !== 'promoted') tellHooks(ctx, 'rollback', reason);
    tellHooks(ctx, 'post-rollout', reason);
  }
}

function hasHooks(plan: ResolvedPlan, type: HookType): boolean {
  return plan.hooks?.some((h) => h.type === type) ?? false;
}

function tellHooks(ctx: Ctx, hook: HookType, reason: string): void {
  if (!hasHooks(ctx.plan, hook)) return;
  const { s } = ctx;
  ctx.fx.push({ type: 'hook', opId: 0, hook, stageIndex: s.stageIndex, weight: percentOf(s), reason });
}

/** Gates: the hooks of this type are called first; the write follows when they all answer 2xx. */
function startHook(ctx: Ctx, hook: GateHook, then: Write): void {
  const { s, now, plan } = ctx;
  const opId = nextOp(s);
  s.inflight = { kind: 'hook', opId, hook, then, since: now };
  const weight = plan.stages[then.stageIndex]?.weight ?? 0;
  ctx.fx.push({ type: 'hook', opId, hook, stageIndex: then.stageIndex, weight, reason: then.reason });
}

/**
 * A gate hook's answer. A failing one is a failed check whose reason is the hook's answer: it rolls
 * back at the failure limit; below it, the pre-rollout hooks are asked again after an interval and a
 * confirm hook at the stage's next passing check.
 */
function hookDone(ctx: Ctx, ok: boolean, reason: string): void {
  const { s, plan, now } = ctx;
  const f = s.inflight as Extract<Inflight, { kind: 'hook' }>;
  s.inflight = null;
  if (s.pendingAbort || s.ending) return;
  if (ok) {
    if (f.hook === 'pre-rollout') s.preRolloutDone = true;
    startWrite(ctx, f.then);
    return;
  }
  s.failedChecks += 1;
  const limit = plan.analysis.failureLimit;
  decide(ctx, 'hook_failed', SYSTEM_ACTOR, `${f.hook} hook failed (${s.failedChecks}/${limit}): ${reason}`);
  if (s.failedChecks >= limit) {
    endWithStable(ctx, {
      final: 'rolled_back',
      by: SYSTEM_ACTOR,
      reason: `${f.hook} hook failed${f.hook === 'pre-rollout' ? ' before any user traffic' : ''}, canary withdrawn: ${reason}`,
    });
    return;
  }
  s.nextCheckAt = now + plan.analysis.intervalMs;
}

function writeLanded(ctx: Ctx): void {
  const { s, plan, now } = ctx;
  const f = s.inflight as Extract<Inflight, { kind: 'write' }>;
  s.inflight = null;
  switch (f.write.purpose) {
    case 'stage': {
      s.stageIndex = f.write.stageIndex;
      s.stageApplied = true;
      s.appliedWeight = f.write.weight;
      s.stageStartedAt = now;
      s.observedMs = 0;
      s.observedAtCoveredCheck = 0;
      s.failedChecks = 0;
      s.passedChecks = 0;
      s.inconclusiveStreak = 0;
      s.nextCheckAt = now + plan.analysis.intervalMs;
      if (s.rules === 3) {
        s.carried = s.evidence ?? s.carried;
        s.evidence = undefined;
      }
      if (s.extendedMs) s.extendedMs = 0;
      if (s.pausedOnFail) {
        // Gates: a person moved the rollout on from a held pause (promote): it progresses again.
        if (s.gates && s.state === 'paused') s.state = 'progressing';
        s.pausedOnFail = null;
      }
      if (s.gates) {
        s.awaitingApproval = null;
        if (s.approved && s.approved.stageIndex !== s.stageIndex) s.approved = null;
      }
      // "Next stage" is satisfied by any move to the next stage; "to 100%" only by the promotion.
      if (s.pendingPromote && (f.write.forPromote || !s.pendingPromote.full)) s.pendingPromote = null;
      decide(ctx, 'stage_started', f.write.by, f.write.reason);
      if (s.stageIndex > 0) notify(ctx, 'stage_advanced', f.write.by, f.write.reason);
      break;
    }
    case 'promote': {
      s.stageIndex = f.write.stageIndex;
      s.stageApplied = true;
      finish(ctx, 'promoted', plan.canary, f.write.reason);
      decide(ctx, 'promoted', f.write.by, f.write.reason);
      notify(ctx, 'promoted', f.write.by, f.write.reason);
      break;
    }
    case 'stable': {
      const e = s.ending!;
      finish(ctx, e.final, plan.stable, e.reason, {
        ...(e.failure ? { failure: e.failure } : {}),
        ...(e.cancelled ? { cancelled: true } : {}),
      });
      decide(ctx, e.final, e.by, e.reason);
      notify(ctx, e.final, e.by, e.reason, e.verdict);
      break;
    }
  }
}

function writeFailed(ctx: Ctx, kind: FailureKind, message: string): void {
  const { s } = ctx;
  const f = s.inflight as Extract<Inflight, { kind: 'write' }>;
  if (kind === 'outage') {
    // The write's own retries ran out of time: say why in status and ask again (advance re-issues).
    s.inflight = { ...f, attempts: f.attempts + 1, lastError: message, opId: nextOp(s) };
    ctx.fx.push(writeEffect(ctx, s.inflight.opId, f.write));
    return;
  }
  s.inflight = null;
  if (f.write.purpose === 'stable') {
    // The router refuses even stable-only for this agent (unknown agent or version): it routes
    // nothing of ours, so there is no canary share to take back. End, failing with the cause.
    const e = s.ending!;
    finish(ctx, e.final, ctx.plan.stable, `${e.reason}; the router refused the stable split: ${message}`, {
      failure: e.failure ?? `the router refused the split: ${message}`,
      ...(e.cancelled ? { cancelled: true } : {}),
    });
    decide(ctx, e.final, e.by, s.result!.reason);
    notify(ctx, e.final, e.by, s.result!.reason, e.verdict);
    return;
  }
  endWithStable(ctx, {
    final: 'rolled_back',
    by: SYSTEM_ACTOR,
    reason: `the router refused the split, canary withdrawn: ${message}`,
    failure: `the router refused the split: ${message}`,
  });
}

function checkDone(ctx: Ctx, outcome: CheckOutcome, leaseFailed = false): void {
  const { s, plan, now } = ctx;
  const f = s.inflight;
  s.inflight = null;
  s.nextCheckAt = s.checks === 'deferred' ? nextOnGrid(s, plan, now) : now + plan.analysis.intervalMs;
  let verdict: Verdict;
  if (outcome.metrics === 'outage') {
    // Not evidence either way, and the time since the last check with metrics is not observation.
    s.observedMs = s.observedAtCoveredCheck;
    s.covered = false;
    s.outageStreak += 1;
    s.inconclusiveStreak += 1;
    verdict = {
      verdict: 'inconclusive',
      judge: plan.analysis.judge,
      reason: `${leaseFailed ? 'lease not renewed' : 'metrics unavailable'} (not evidence): ${outcome.message}`,
      metrics: [],
    };
  } else {
    verdict = outcome.verdict;
    if (
      s.rules === 3 &&
      !holding(s) &&
      verdict.judge === 'statistical' &&
      f?.kind === 'check' &&
      f.stageIndex === s.stageIndex
    ) {
      const across = judgeAcrossStages(
        verdict,
        s.carried,
        plan.analysis,
        passMultiple(plan, s.stageIndex),
        s.judgeV4,
      );
      verdict = across.verdict;
      s.evidence = across.evidence;
    }
    s.outageStreak = 0;
    if (outcome.coveredSince !== undefined && outcome.coveredSince > s.stageStartedAt) {
      // Time the source has no data for is not observation, whatever the clock ran through.
      s.observedMs = Math.min(s.observedMs, Math.max(0, now - outcome.coveredSince));
    }
    if (!s.covered) {
      // Coverage starts again now; nothing between the outage and this check counts.
      s.covered = true;
    }
    s.observedAtCoveredCheck = s.observedMs;
    if (verdict.verdict === 'fail') s.failedChecks += 1;
    if (verdict.verdict === 'pass') s.passedChecks += 1;
    // "Not yet" is the normal state inside a window (a sequential judge needs data); only checks that
    // extend a window past its observation time count towards the streak that pauses the rollout.
    const extending = s.observedMs >= windowMs(s, plan);
    if (verdict.verdict !== 'inconclusive') s.inconclusiveStreak = 0;
    else if (extending) s.inconclusiveStreak += 1;
  }
  s.lastAnalysis = {
    ...verdict,
    at: new Date(now).toISOString(),
    windowStart: new Date(s.stageStartedAt).toISOString(),
    failedChecks: s.failedChecks,
    inconclusiveStreak: s.inconclusiveStreak,
  };
  if (f?.kind === 'check' && f.stageIndex !== s.stageIndex) return;
  // While a pause holds, every check may fail again on the same regression: only a rollback is news.
  if (verdict.verdict === 'fail' && !holding(s)) {
    decide(
      ctx,
      'check_failed',
      SYSTEM_ACTOR,
      `check failed (${s.failedChecks}/${plan.analysis.failureLimit}): ${verdict.reason}`,
    );
  }
  if (s.pendingAbort || s.ending) return;
  if (holding(s)) {
    const worse = verdict.verdict === 'fail' ? clearWorsening(plan, s.pausedOnFail!, verdict) : null;
    if (worse) {
      endWithStable(ctx, { final: 'rolled_back', by: SYSTEM_ACTOR, reason: worse, verdict });
      return;
    }
  } else if (s.pausedOnFail) {
    if (verdict.verdict === 'fail') {
      endWithStable(ctx, {
        final: 'rolled_back',
        by: SYSTEM_ACTOR,
        reason: `canary unhealthy again while paused on a failed check: ${verdict.reason}`,
        verdict,
      });
      return;
    }
  } else if (s.failedChecks >= plan.analysis.failureLimit) {
    const failing = verdict.metrics.filter((m) => m.status === 'fail').map((m) => m.metric as string);
    if (verdict.verdict === 'fail' && onFailForCheck(plan.analysis.onFail, failing) === 'pause') {
      pauseOnFail(ctx, failing, verdict);
      return;
    }
    endWithStable(ctx, {
      final: 'rolled_back',
      by: SYSTEM_ACTOR,
      reason: `canary unhealthy: ${verdict.reason}`,
      verdict,
    });
    return;
  }
  if (s.outageStreak >= plan.analysis.inconclusiveLimit) {
    // Nobody can judge the canary: it must not keep its traffic.
    endWithStable(ctx, {
      final: 'rolled_back',
      by: SYSTEM_ACTOR,
      reason: `no metrics for ${s.outageStreak} checks in a row (${verdict.reason}); canary withdrawn, nobody can judge it`,
      verdict,
    });
    return;
  }
  if (s.pendingPromote) return;
  if (
    s.rules === 3 &&
    outcome.metrics === 'ok' &&
    verdict.judge === 'statistical' &&
    verdict.verdict === 'inconclusive'
  ) {
    // The stage extends while the deadline leaves room for the later stages' windows; past that it
    // cannot finish in time, and a canary nobody could show healthy does not keep its traffic.
    const later = plan.stages.slice(s.stageIndex + 1).reduce((sum, st) => sum + st.observeMs, 0);
    if (
      s.state === 'progressing' &&
      s.observedMs >= windowMs(s, plan) &&
      s.activeMs + later >= plan.progressDeadlineMs
    ) {
      endWithStable(ctx, {
        final: 'rolled_back',
        by: SYSTEM_ACTOR,
        reason: `stage ${s.stageIndex + 1} could not show the canary healthy in time (the progress deadline leaves too little for the later stages): ${verdict.reason}; canary withdrawn`,
        verdict,
      });
      return;
    }
  } else if (
    verdict.verdict === 'inconclusive' &&
    s.state === 'progressing' &&
    s.inconclusiveStreak >= plan.analysis.inconclusiveLimit
  ) {
    s.state = 'paused';
    const reason = `${s.inconclusiveStreak} inconclusive checks in a row (${verdict.reason}); paused for a person to decide`;
    decide(ctx, 'inconclusive_streak', SYSTEM_ACTOR, reason);
    notify(ctx, 'inconclusive_streak', SYSTEM_ACTOR, reason, verdict);
    return;
  }
  // A window ends on a passing check only: thin or missing data never moves a canary forward.
  if (s.state === 'progressing' && s.observedMs >= windowMs(s, plan) && verdict.verdict === 'pass') {
    nextStage(ctx, `stage ${s.stageIndex + 1} healthy after ${s.passedChecks} passing checks`);
  }
}

function nextStage(ctx: Ctx, reason: string): void {
  const { s, plan } = ctx;
  const next = s.stageIndex + 1;
  if (s.gates) {
    gatedNextStage(ctx, reason);
    return;
  }
  if (plan.stages[next].weight >= 100) {
    startWrite(ctx, promoteWrite(plan, SYSTEM_ACTOR, `all ${plan.stages.length - 1} stages healthy`));
    return;
  }
  startWrite(ctx, stageWrite(plan, next, SYSTEM_ACTOR, reason));
}

/** Gates: a stage with approval waits for `approve`; confirm hooks are asked before the write. */
function gatedNextStage(ctx: Ctx, reason: string): void {
  const { s, plan } = ctx;
  if (plan.stages[s.stageIndex]?.approval && s.approved?.stageIndex !== s.stageIndex) {
    if (!s.awaitingApproval) {
      s.awaitingApproval = ctx.now;
      const why = `${reason}; waits for approval (\`approve\`)`;
      decide(ctx, 'awaiting_approval', SYSTEM_ACTOR, why);
      notify(ctx, 'awaiting_approval', SYSTEM_ACTOR, why);
    }
    return;
  }
  const next = s.stageIndex + 1;
  const promote = plan.stages[next].weight >= 100;
  const write = promote
    ? promoteWrite(plan, SYSTEM_ACTOR, `all ${plan.stages.length - 1} stages healthy`)
    : stageWrite(plan, next, SYSTEM_ACTOR, reason);
  const hook = promote ? 'confirm-promotion' : 'confirm-traffic-increase';
  if (hasHooks(plan, hook)) startHook(ctx, hook, write);
  else startWrite(ctx, write);
}

function stageWrite(
  plan: ResolvedPlan,
  index: number,
  by: string,
  reason: string,
  forPromote = false,
): Write {
  const weight = plan.stages[index].weight;
  return {
    purpose: 'stage',
    stageIndex: index,
    weight,
    label: `stage ${index + 1}: ${plan.canary} ${weight}%`,
    by,
    reason,
    ...(forPromote ? { forPromote } : {}),
  };
}

function promoteWrite(plan: ResolvedPlan, by: string, reason: string): Write {
  return {
    purpose: 'promote',
    stageIndex: plan.stages.length - 1,
    weight: 0,
    label: `promote: ${plan.canary} becomes stable`,
    by,
    reason,
  };
}

function nextOp(s: PolicyState): number {
  s.opSeq += 1;
  return s.opSeq;
}

function writeEffect(ctx: Ctx, opId: number, write: Write): Effect {
  const lease = write.purpose === 'stage' ? ctx.plan.leaseTtlMs : null;
  return { type: 'write', opId, write, decidedAt: ctx.now, leaseMs: lease };
}

function startWrite(ctx: Ctx, write: Write): void {
  const { s, now } = ctx;
  const opId = nextOp(s);
  s.inflight = { kind: 'write', opId, write, since: now, attempts: 0, lastError: null };
  ctx.fx.push(writeEffect(ctx, opId, write));
}

/** When nothing is in flight: start what is due. */
function advance(ctx: Ctx): void {
  const { s, plan, now } = ctx;
  if (s.result || s.inflight) return;
  if (s.ending) {
    startWrite(ctx, {
      purpose: 'stable',
      stageIndex: s.stageIndex,
      weight: 0,
      label: `${s.ending.final === 'aborted' ? 'abort' : 'rollback'}: ${plan.stable} 100%`,
      by: s.ending.by,
      reason: s.ending.reason,
    });
    return;
  }
  const p = s.pendingPromote;
  if (!s.stageApplied && !p) {
    const first = stageWrite(plan, 0, SYSTEM_ACTOR, `stage 1: ${plan.stages[0].weight}%`);
    if (s.gates && !s.preRolloutDone && hasHooks(plan, 'pre-rollout')) {
      if (now >= s.nextCheckAt) startHook(ctx, 'pre-rollout', first);
      return;
    }
    startWrite(ctx, first);
    return;
  }
  if (p) {
    const next = s.stageApplied ? s.stageIndex + 1 : 0;
    if (p.full || plan.stages[next].weight >= 100) startWrite(ctx, promoteWrite(plan, p.by, p.reason));
    else startWrite(ctx, stageWrite(plan, next, p.by, p.reason, true));
    return;
  }
  if (s.activeMs >= plan.progressDeadlineMs) {
    endWithStable(ctx, {
      final: 'rolled_back',
      by: SYSTEM_ACTOR,
      reason: `progress deadline exceeded (${Math.round(plan.progressDeadlineMs / 1000)}s)`,
    });
    advance(ctx);
    return;
  }
  const due = holdDueAt(s, plan);
  if (due !== null && now >= due) {
    endWithStable(ctx, {
      final: 'rolled_back',
      by: SYSTEM_ACTOR,
      reason:
        `paused on a failed check for ${formatDuration(now - s.pausedOnFail!.at)} and nobody acted ` +
        `(analysis.onFail.timeout): ${s.pausedOnFail!.reason}; canary withdrawn`,
    });
    advance(ctx);
    return;
  }
  const stage = plan.stages[s.stageIndex];
  // The end of the window gets a check of its own; past it, checks keep their interval.
  const window = windowMs(s, plan);
  const windowDue = s.state === 'progressing' && s.observedMs >= window && s.observedAtCoveredCheck < window;
  if (s.checks === 'deferred') {
    // Handed out at once, due when the timer would have fired: the activity waits until then.
    const at = windowDue ? now : wakeAt(s, plan, now);
    startCheck(ctx, stage.weight, at, at);
    return;
  }
  if (now >= s.nextCheckAt || windowDue) startCheck(ctx, stage.weight, now);
}

/** A check of the stage in place, judging its window up to `until`; deferred ones carry `at`. */
function startCheck(ctx: Ctx, weight: number, until: number, at?: number): void {
  const { s } = ctx;
  const opId = nextOp(s);
  // A held pause judges the data since the pause: the data before it already failed.
  const since = holding(s) ? Math.max(s.stageStartedAt, s.pausedOnFail!.at) : s.stageStartedAt;
  s.inflight = { kind: 'check', opId, since, until, stageIndex: s.stageIndex };
  ctx.fx.push({
    type: 'check',
    opId,
    since,
    until,
    stageIndex: s.stageIndex,
    weight,
    ...(at === undefined ? {} : { at }),
  });
}

/**
 * The next check of a deferred cadence: the first multiple of the interval from the stage start that
 * is still ahead, so a slow check does not push every later one back.
 */
function nextOnGrid(s: PolicyState, plan: ResolvedPlan, now: number): number {
  const interval = plan.analysis.intervalMs;
  const k = Math.floor(Math.max(0, now - s.stageStartedAt) / interval) + 1;
  return s.stageStartedAt + k * interval;
}

/** Gates: when a held pause on a failed check rolls back if nobody acts (onFail.timeout), or null. */
export function holdDueAt(s: PolicyState, plan: ResolvedPlan): number | null {
  if (!holding(s)) return null;
  const timeout = onFailTimeoutMs(plan.analysis.onFail);
  return timeout === undefined ? null : s.pausedOnFail!.at + timeout;
}

function wakeAt(s: PolicyState, plan: ResolvedPlan, now: number): number {
  const window = windowMs(s, plan);
  let at = s.nextCheckAt;
  if (s.state === 'progressing') {
    if (s.covered && s.observedMs < window) at = Math.min(at, now + window - s.observedMs);
    at = Math.min(at, now + Math.max(0, plan.progressDeadlineMs - s.activeMs));
  } else if (holding(s)) {
    at = Math.min(at, now + Math.max(0, plan.progressDeadlineMs - s.activeMs));
    const due = holdDueAt(s, plan);
    if (due !== null) at = Math.min(at, due);
  }
  return Math.max(at, now + 1);
}

/** Notification failures reported by the notify activity, kept bounded. */
export function recordNotifyFailures(s: PolicyState, failures: NotifyFailure[]): void {
  s.notifyFailures.push(...failures);
  s.notifyFailures.splice(0, Math.max(0, s.notifyFailures.length - MAX_NOTIFY_FAILURES));
}

// What a rollout's workflow history says, for the dashboard: every check's verdict (the
// analyzeCanary results), every traffic split written, every command received and how the run
// ended. History is the one record that also exists for closed runs with no worker to answer a
// query, and it holds the time series the status query does not (status keeps only the last check).
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { LoadedDataConverter, Payload } from '@temporalio/common';
import type { MetricResult, Verdict } from '../analysis/types';
import { judgeAcrossStages, passMultiple, type Evidence } from '../analysis/evidence';
import { planForWorkflow } from '../plan';
import type { ResolvedPlan } from '../plan/schema';
import { PATCHES } from '../contract';
import { ROLLED_BACK_FAILURE, type RolloutResult, type RolloutState } from '../../workflows/messages';

/** One check of the canary: the judge's verdict on the window [since, at]. */
export interface CheckPoint {
  /** ISO time of the check (the end of its data window, workflow time). */
  at: string;
  /** ISO start of the data window: the stage's start. */
  since: string;
  /** The canary's share when the check ran (from the last split written before it). */
  percent: number;
  verdict: Verdict['verdict'];
  judge: Verdict['judge'];
  reason: string;
  metrics: MetricResult[];
  stableRequests: number;
  canaryRequests: number;
  /** The online evaluator at this check (state, reason, spend), when the agent has one. */
  evaluator?: Verdict['evaluator'];
  /** A shadow stage's check: the share mirrored and the pairs judged (docs/shadow.md). */
  shadow?: Verdict['shadow'];
}

/** A change of the traffic split (lease renewals with the same split are left out). */
export interface SplitWrite {
  at: string;
  stable: string;
  canary: string | null;
  canaryWeight: number;
  /** What the workflow called this write (stage N, rollback...), from the activity summary. */
  summary: string;
}

/** A Signal or an accepted/rejected Update: who asked for what, and why. */
export interface CommandEvent {
  at: string;
  via: 'signal' | 'update';
  name: string;
  by: string;
  reason: string;
  full?: boolean;
  /** Updates only: whether the workflow took it (a rejected one carries the refusal). */
  accepted: boolean | null;
  refusal?: string;
}

export type EndKind = 'completed' | 'failed' | 'terminated' | 'canceled' | 'timed_out' | 'continued_as_new';

export interface RunEnding {
  at: string;
  kind: EndKind;
  /** The rollout's final state, when the workflow returned one. */
  state: RolloutState | null;
  reason: string;
  /** Who terminated or cancelled it, when Temporal knows. */
  by: string | null;
}

export interface RolloutHistory {
  workflowId: string;
  /** The runs read, oldest first (a rollout that continued as new has several). */
  runIds: string[];
  plan: ResolvedPlan | null;
  startedAt: string | null;
  checks: CheckPoint[];
  splits: SplitWrite[];
  commands: CommandEvent[];
  cancelRequested: { at: string; by: string; reason: string } | null;
  ending: RunEnding | null;
}

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];
type Timestamp = NonNullable<HistoryEvent['eventTime']>;

function ms(ts: Timestamp | null | undefined): number {
  if (!ts) return 0;
  const s = ts.seconds;
  const seconds = typeof s === 'number' ? s : s ? Number(s.toString()) : 0;
  return seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}
const iso = (t: number) => new Date(t).toISOString();

/** Decodes payloads with the client's own data converter (codecs included). */
export function payloadDecoder(converter: LoadedDataConverter) {
  return async (payloads: Payload[] | null | undefined): Promise<unknown[]> => {
    if (!payloads?.length) return [];
    let decoded = payloads;
    for (const codec of [...converter.payloadCodecs].reverse()) decoded = await codec.decode(decoded);
    return decoded.map((p) => {
      try {
        return converter.payloadConverter.fromPayload(p);
      } catch {
        return undefined; // a payload we cannot read is shown as missing, not as an error page
      }
    });
  };
}

type Decode = ReturnType<typeof payloadDecoder>;

const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function isVerdict(v: unknown): v is Verdict {
  const o = obj(v);
  return typeof o.verdict === 'string' && Array.isArray(o.metrics);
}

/**
 * Rollouts under the rules of "judge-v3" (a patch marker in their history) judge each check with the
 * evidence of the earlier stages added (workflows/policy.ts): the dashboard shows the verdict the
 * rollout acted on, computed the same way, not the window's alone. Kept per history being read.
 */
interface AcrossStages {
  rules3: boolean;
  /** The "judge-v4" marker: conversations as the unit, incidents held (src/analysis/evidence.ts). */
  v4?: boolean;
  plan?: ResolvedPlan | null;
  stage: number;
  carried?: Evidence;
  evidence?: Evidence;
}
const acrossStages = new WeakMap<object, AcrossStages>();

function resolvedPlanOf(plan: unknown): ResolvedPlan | null {
  try {
    return planForWorkflow(plan);
  } catch {
    return null;
  }
}

/** The check's verdict as the policy saw it (see AcrossStages). */
function actedOn(st: AcrossStages, plan: unknown, verdict: Verdict, percent: number): Verdict {
  if (!st.rules3 || verdict.judge !== 'statistical') return verdict;
  if (st.plan === undefined) st.plan = resolvedPlanOf(plan);
  if (!st.plan) return verdict;
  const stage = st.plan.stages.findIndex((x) => x.weight === percent);
  if (stage < 0) return verdict;
  if (stage !== st.stage) {
    // The policy carries a stage's evidence into the next one when the stage ends.
    st.carried = st.evidence ?? st.carried;
    st.evidence = undefined;
    st.stage = stage;
  }
  const across = judgeAcrossStages(
    verdict,
    st.carried,
    st.plan.analysis,
    passMultiple(st.plan, stage),
    st.v4,
  );
  st.evidence = across.evidence;
  return across.verdict;
}

/**
 * The verdict the rollout acted on as its check recorded it (`rollout`, since the check activity
 * judges the rollout): taken as is. null: the check's own verdict was the one. Absent (checks
 * recorded before): undefined, and actedOn recomputes it.
 */
function recordedRollout(r: Record<string, unknown>): Verdict | undefined {
  if (!('rollout' in r)) return undefined;
  const rollout = obj(r.rollout).verdict;
  if (isVerdict(rollout)) return rollout;
  return isVerdict(r.verdict) ? r.verdict : undefined;
}

/**
 * Reads one run's events into `into` (several runs of a continued rollout add up). Pure apart from
 * payload decoding, so it is tested on saved histories.
 */
export async function readRun(
  events: HistoryEvent[],
  decode: Decode,
  into: Omit<RolloutHistory, 'workflowId' | 'runIds'>,
): Promise<{ previousRunId: string | null }> {
  const scheduled = new Map<string, { name: string; input: unknown; summary: string; at: number }>();
  let previousRunId: string | null = null;
  let percent = into.splits.at(-1)?.canaryWeight ?? 0;
  let st = acrossStages.get(into);
  if (!st) acrossStages.set(into, (st = { rules3: false, stage: -1 }));
  for (const e of events) {
    const at = ms(e.eventTime);
    const id = String(e.eventId ?? '');
    if (e.workflowExecutionStartedEventAttributes) {
      const a = e.workflowExecutionStartedEventAttributes;
      previousRunId = a.continuedExecutionRunId || null;
      const [plan] = await decode(a.input?.payloads);
      if (!into.plan && plan && typeof plan === 'object') into.plan = plan as ResolvedPlan;
      into.startedAt ??= iso(at);
    } else if (e.markerRecordedEventAttributes?.markerName === 'core_patch') {
      const [data] = await decode(e.markerRecordedEventAttributes.details?.['patch-data']?.payloads);
      const id = obj(data).id;
      // baseline-v12 stands for every patch up to code version 11 (workflows/behaviour.ts).
      if (id === PATCHES.judgeV3.id || id === PATCHES.baselineV12.id) st.rules3 = true;
      if (id === PATCHES.judgeV4.id || id === PATCHES.baselineV12.id) st.v4 = true;
    } else if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      const [input] = await decode(a.input?.payloads);
      const summary = (await decode(e.userMetadata?.summary ? [e.userMetadata.summary] : []))[0];
      scheduled.set(id, { name: a.activityType?.name ?? '', input, summary: str(summary), at });
    } else if (e.activityTaskCompletedEventAttributes) {
      const a = e.activityTaskCompletedEventAttributes;
      const task = scheduled.get(String(a.scheduledEventId ?? ''));
      if (!task) continue;
      const [result] = await decode(a.result?.payloads);
      if (task.name === 'setTrafficSplit') {
        const r = obj(result);
        percent = r.canary ? num(r.canaryWeight) : 0;
        const write: SplitWrite = {
          at: iso(at),
          stable: str(r.stable),
          canary: typeof r.canary === 'string' ? r.canary : null,
          canaryWeight: percent,
          summary: task.summary,
        };
        // Every check renews the lease with the same split: keep only the changes.
        const last = into.splits.at(-1);
        if (
          !last ||
          last.stable !== write.stable ||
          last.canary !== write.canary ||
          last.canaryWeight !== write.canaryWeight
        )
          into.splits.push(write);
      } else if (task.name === 'analyzeCanary' || task.name === 'checkCanary') {
        // analyzeCanary: rollouts from before the control-loop rework; checkCanary renews the lease
        // and answers {metrics: 'ok', verdict, ...} or {metrics: 'outage', message}.
        const input = obj(task.input);
        const r = obj(result);
        if (!isVerdict(r.verdict)) continue;
        const v = recordedRollout(r) ?? actedOn(st, into.plan, r.verdict, percent);
        into.checks.push({
          at: iso(num(input.until) || task.at),
          since: iso(num(input.since) || task.at),
          percent,
          verdict: v.verdict,
          judge: v.judge,
          reason: v.reason,
          metrics: v.metrics,
          stableRequests: num(r.stableRequests),
          canaryRequests: num(r.canaryRequests),
          ...(v.evaluator ? { evaluator: v.evaluator } : {}),
          ...(v.shadow ? { shadow: v.shadow } : {}),
        });
      }
    } else if (e.workflowExecutionSignaledEventAttributes) {
      const a = e.workflowExecutionSignaledEventAttributes;
      const [input] = await decode(a.input?.payloads);
      into.commands.push(command('signal', a.signalName ?? '', input, at, null, a.identity));
    } else if (e.workflowExecutionUpdateAcceptedEventAttributes) {
      const req = e.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest;
      const [input] = await decode(req?.input?.args?.payloads);
      into.commands.push(command('update', req?.input?.name ?? '', input, at, true, req?.meta?.identity));
    } else if (e.workflowExecutionUpdateRejectedEventAttributes) {
      const a = e.workflowExecutionUpdateRejectedEventAttributes;
      const req = a.rejectedRequest;
      const [input] = await decode(req?.input?.args?.payloads);
      const c = command('update', req?.input?.name ?? '', input, at, false, req?.meta?.identity);
      c.refusal = a.failure?.message ?? '';
      into.commands.push(c);
    } else if (e.workflowExecutionCancelRequestedEventAttributes) {
      const a = e.workflowExecutionCancelRequestedEventAttributes;
      into.cancelRequested = { at: iso(at), by: a.identity ?? '', reason: a.cause ?? '' };
    } else if (e.workflowExecutionCompletedEventAttributes) {
      const [result] = await decode(e.workflowExecutionCompletedEventAttributes.result?.payloads);
      const r = obj(result) as Partial<RolloutResult>;
      into.ending = {
        at: iso(at),
        kind: 'completed',
        state: (r.state as RolloutState | undefined) ?? null,
        reason: str(r.reason),
        by: null,
      };
    } else if (e.workflowExecutionFailedEventAttributes) {
      const f = e.workflowExecutionFailedEventAttributes.failure;
      // A rollback closes as Failed (docs/web-ui.md), with the rollout's result as the detail.
      const app = f?.applicationFailureInfo;
      const [detail] = app?.type === ROLLED_BACK_FAILURE ? await decode(app.details?.payloads) : [undefined];
      const r = obj(detail) as Partial<RolloutResult>;
      into.ending = {
        at: iso(at),
        kind: 'failed',
        state: r.state === 'rolled_back' ? r.state : null,
        reason: r.state === 'rolled_back' ? str(r.reason) : (f?.message ?? ''),
        by: null,
      };
    } else if (e.workflowExecutionTerminatedEventAttributes) {
      const a = e.workflowExecutionTerminatedEventAttributes;
      into.ending = {
        at: iso(at),
        kind: 'terminated',
        state: null,
        reason: a.reason ?? '',
        by: a.identity || null,
      };
    } else if (e.workflowExecutionCanceledEventAttributes) {
      // An aborted rollout asks for its own cancellation (docs/web-ui.md): the abort says who and why.
      const abort = [...into.commands].reverse().find((c) => c.name === 'abort' && c.accepted !== false);
      into.ending = {
        at: iso(at),
        kind: 'canceled',
        state: abort ? 'aborted' : null,
        reason: abort?.reason || into.cancelRequested?.reason || 'cancellation requested',
        by: abort?.by || into.cancelRequested?.by || null,
      };
    } else if (e.workflowExecutionTimedOutEventAttributes) {
      into.ending = { at: iso(at), kind: 'timed_out', state: null, reason: 'timed out', by: null };
    } else if (e.workflowExecutionContinuedAsNewEventAttributes) {
      into.ending = {
        at: iso(at),
        kind: 'continued_as_new',
        state: null,
        reason: 'continued as new',
        by: null,
      };
    }
  }
  return { previousRunId };
}

function command(
  via: CommandEvent['via'],
  name: string,
  input: unknown,
  at: number,
  accepted: boolean | null,
  identity: string | null | undefined,
): CommandEvent {
  const i = obj(input);
  return {
    at: iso(at),
    via,
    name,
    by: str(i.by) || identity || 'unknown',
    reason: str(i.reason),
    ...(typeof i.full === 'boolean' ? { full: i.full } : {}),
    accepted,
  };
}

/**
 * Runs followed back through continue-as-new; past this the oldest checks are left out. A run
 * continues as new every 50-100 events (about 12 checks; 75-150 before code version 12), so 600
 * runs hold about 7,000 checks: a 6 h plan at 3 s checks.
 */
export const MAX_RUNS = 600;

/**
 * Runs that have closed never change: their events are read once. A dashboard that follows a long
 * rollout then fetches only its live run at each refresh. Bounded by runs kept (each 50-150 events).
 */
const closedRuns = new Map<string, HistoryEvent[]>();
const CLOSED_RUNS_KEPT = 2_000;

function closed(events: HistoryEvent[]): boolean {
  const last = events.at(-1);
  return Boolean(
    last &&
    (last.workflowExecutionContinuedAsNewEventAttributes ||
      last.workflowExecutionCompletedEventAttributes ||
      last.workflowExecutionFailedEventAttributes ||
      last.workflowExecutionCanceledEventAttributes ||
      last.workflowExecutionTerminatedEventAttributes ||
      last.workflowExecutionTimedOutEventAttributes),
  );
}

async function runEvents(client: Client, workflowId: string, runId: string): Promise<HistoryEvent[]> {
  const key = `${workflowId}/${runId}`;
  const kept = closedRuns.get(key);
  if (kept) return kept;
  const history: History = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const events: HistoryEvent[] = history.events ?? [];
  if (closed(events)) {
    closedRuns.set(key, events);
    if (closedRuns.size > CLOSED_RUNS_KEPT) closedRuns.delete(closedRuns.keys().next().value!);
  }
  return events;
}

export function emptyHistory(workflowId: string): RolloutHistory {
  return {
    workflowId,
    runIds: [],
    plan: null,
    startedAt: null,
    checks: [],
    splits: [],
    commands: [],
    cancelRequested: null,
    ending: null,
  };
}

/** The rollout's history from its first run to `runId`, through continue-as-new. */
export async function readRolloutHistory(
  client: Client,
  workflowId: string,
  runId: string,
): Promise<RolloutHistory> {
  const decode = payloadDecoder(client.options.loadedDataConverter);
  const runs: { runId: string; events: HistoryEvent[] }[] = [];
  let next: string | null = runId;
  while (next && runs.length < MAX_RUNS) {
    const events = await runEvents(client, workflowId, next);
    runs.unshift({ runId: next, events });
    next = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || null;
  }
  const out = emptyHistory(workflowId);
  for (const run of runs) {
    out.runIds.push(run.runId);
    // The last run decides how the rollout ended; earlier runs end in continue-as-new.
    out.ending = null;
    out.cancelRequested = null;
    await readRun(run.events, decode, out);
  }
  return out;
}

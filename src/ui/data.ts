// What the dashboard's pages show, assembled from Temporal: the list from visibility, a rollout
// from its history (checks, splits, commands, ending) and, when a worker answers, its status query
// (the workflow's own decisions ledger). Closed runs never change, so their pages are cached.
import type { Client } from '@temporalio/client';
import { holdingOf, holdingText, type Holding } from '../analysis/holding';
import { formatDuration } from '../plan/duration';
import { predictDetection } from '../analysis/predict';
import { rolloutUrl } from '../notify/format';
import { getStatus, listRollouts, type Command, type RolloutSummary } from '../temporal/rollouts';
import { SA, type Decision, type RolloutState, type RolloutStatus } from '../../workflows/messages';
import { readRolloutHistory, type RolloutHistory } from './history';
import { badgeFor, type Badge } from './outcome';

export interface RolloutRow extends RolloutSummary {
  badge: Badge;
  /** Why a closed run ended (rolled back on..., aborted by... because...); null while it runs or not read yet. */
  reason: string | null;
}

/** Closed runs' reasons, read once from their history (a closed run never changes). */
const reasonCache = new Map<string, { reason: string | null; neverRouted: boolean }>();

/** No split ever gave the canary traffic and no check ran: what ended it was the start itself. */
export function neverRouted(h: RolloutHistory): boolean {
  return h.checks.length === 0 && !h.splits.some((s) => s.canary && s.canaryWeight > 0);
}
/** History reads per list request: a long list fills in over a few polls instead of one slow answer. */
const REASON_READS_PER_LIST = 10;

/** Rollouts newest first (runs that only handed over to a new one are left out by the query). */
export async function listRows(client: Client, limit = 200): Promise<RolloutRow[]> {
  const rows = await listRollouts(client, { limit });
  const missing = rows.filter((r) => r.closeTime && !reasonCache.has(`${r.workflowId}/${r.runId}`));
  await Promise.all(
    missing.slice(0, REASON_READS_PER_LIST).map(async (r) => {
      const h = await readRolloutHistory(client, r.workflowId, r.runId).catch(() => null);
      if (!h) return;
      reasonCache.set(`${r.workflowId}/${r.runId}`, {
        reason: h.ending?.reason ?? null,
        neverRouted: neverRouted(h),
      });
      if (reasonCache.size > 4 * CACHE_SIZE) reasonCache.delete(reasonCache.keys().next().value!);
    }),
  );
  return rows.map((r) => {
    const read = r.closeTime ? reasonCache.get(`${r.workflowId}/${r.runId}`) : undefined;
    return { ...r, badge: badgeFor(r.status, r.state, read?.neverRouted), reason: read?.reason ?? null };
  });
}

export interface DecisionView extends Decision {
  /** 'workflow': the workflow's own ledger (status query); 'history': read back from its events. */
  source: 'workflow' | 'history';
}

export interface StageView {
  index: number;
  weight: number;
  /** A shadow stage: percent of requests mirrored to the canary (weight 0). */
  shadow?: number;
  plannedObserveMs: number;
  startedAt: string | null;
  endedAt: string | null;
  checks: { pass: number; fail: number; inconclusive: number };
  /** Requests per second to the agent (both versions) seen in the stage's last check. */
  observedRps: number | null;
  /**
   * What the plan's statistics predict at that traffic: the time a canary as good as stable needs
   * to pass (statistical judge only; null when there is nothing to predict from).
   */
  predictedPassMs: number | null;
}

export interface RolloutDetail {
  workflowId: string;
  runId: string;
  agent: string;
  stable: string;
  canary: string;
  executionStatus: string;
  startTime: string;
  closeTime: string | null;
  badge: Badge;
  /** Whether this is the newest run of the workflow id (commands go to the newest run only). */
  latestRun: boolean;
  status: RolloutStatus | null;
  /** Why the status query was not used, in words. */
  statusNote: string | null;
  decisions: DecisionView[];
  history: RolloutHistory;
  stages: StageView[];
  commands: Command[];
  temporalUrl: string | null;
  /** The headline of a live rollout: what holds its stage and for about how long (analysis/holding). */
  headline: string | null;
  /** The same as data, for the page: the holding metric and the forecast time to decide. */
  holding: Holding | null;
}

export interface DetailOptions {
  runId?: string;
  temporalUiUrl?: string;
  /** How long to wait for a worker to answer the status query. */
  queryTimeoutMs?: number;
}

export class RolloutNotFoundError extends Error {
  override name = 'RolloutNotFoundError';
}

const closedCache = new Map<string, RolloutDetail>();
const CACHE_SIZE = 100;

export async function rolloutDetail(
  client: Client,
  workflowId: string,
  opts: DetailOptions = {},
): Promise<RolloutDetail> {
  const cached = opts.runId ? closedCache.get(`${workflowId}/${opts.runId}`) : undefined;
  if (cached) return cached;
  let latest;
  try {
    latest = await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError')
      throw new RolloutNotFoundError(`no rollout with workflow id ${workflowId}`);
    throw err;
  }
  let run = latest;
  if (opts.runId && opts.runId !== latest.runId) {
    try {
      run = await client.workflow.getHandle(workflowId, opts.runId).describe();
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError')
        throw new RolloutNotFoundError(`no run ${opts.runId} of ${workflowId}`);
      throw err;
    }
  }
  const key = `${workflowId}/${run.runId}`;
  const hit = closedCache.get(key);
  if (hit) return hit;

  const latestRun = run.runId === latest.runId;
  const running = run.status.name === 'RUNNING';
  const sa = run.typedSearchAttributes;
  const agent = sa.get(SA.agent) ?? workflowId.replace(/^canary-/, '');
  const history = await readRolloutHistory(client, workflowId, run.runId);

  let status: RolloutStatus | null = null;
  let statusNote: string | null = null;
  if (latestRun) {
    try {
      status = await getStatus(client, agent, { workflowId, timeoutMs: opts.queryTimeoutMs ?? 2_000 });
    } catch (err) {
      statusNote = `no live status (${firstLine(err)}); decisions read from the workflow history`;
    }
  } else {
    statusNote = 'an earlier run: decisions read from the workflow history';
  }
  const published = (sa.get(SA.state) as RolloutState | undefined) ?? null;
  const state: RolloutState | null = status?.state ?? history.ending?.state ?? published;
  const plan = history.plan;
  const detail: RolloutDetail = {
    workflowId,
    runId: run.runId,
    agent,
    stable: status?.stable ?? plan?.stable ?? sa.get(SA.stableVersion) ?? '?',
    canary: status?.canary ?? plan?.canary ?? sa.get(SA.canaryVersion) ?? '?',
    executionStatus: run.status.name,
    startTime: run.startTime.toISOString(),
    closeTime: run.closeTime?.toISOString() ?? null,
    badge: badgeFor(run.status.name, state, !running && neverRouted(history)),
    latestRun,
    status,
    statusNote,
    decisions: status
      ? status.decisions.map((d) => ({ ...d, source: 'workflow' as const }))
      : decisionsFromHistory(history),
    history,
    stages: stageViews(history),
    commands: running && latestRun ? allowedCommands(status?.state ?? published, status) : [],
    temporalUrl:
      rolloutUrl(opts.temporalUiUrl, client.options.namespace, workflowId)?.concat(
        `/${encodeURIComponent(run.runId)}`,
      ) ?? null,
    headline: null,
    holding: null,
  };
  const holding = status ? holdingOf(status) : null;
  if (status && holding) {
    detail.holding = holding;
    detail.headline = holdingText(status, holding, formatDuration);
  }
  // A closed run is final once its status (if any worker answers) has been read.
  if (!running && (status || !latestRun || history.ending)) {
    closedCache.set(key, detail);
    if (closedCache.size > CACHE_SIZE) closedCache.delete(closedCache.keys().next().value!);
  }
  return detail;
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}

export function allowedCommands(
  state: RolloutState | null,
  status?: Pick<RolloutStatus, 'approval' | 'pausedOnFail' | 'failedChecks'> | null,
): Command[] {
  // A stage's approval gate that is still shut: `approve` opens it (docs/gates.md).
  const approve: Command[] = status?.approval && !status.approval.approvedBy ? ['approve'] : [];
  // Failed checks can be set aside; a pause on a failed check is lifted that way only, never by
  // `resume`, which the workflow refuses then.
  const onFail = !!status?.pausedOnFail;
  const dismiss: Command[] = onFail || (status?.failedChecks ?? 0) > 0 ? ['dismiss'] : [];
  // More observation of the stage; the workflow's admission rule (on the status it answers) says
  // when the stage cannot take it (no split yet, past the progress deadline), naming why.
  if (state === 'paused')
    return [...approve, ...(onFail ? [] : ['resume' as const]), ...dismiss, 'extend', 'promote', 'abort'];
  if (state === 'progressing' || state === null)
    return [...approve, 'pause', ...dismiss, 'extend', 'promote', 'abort'];
  return [];
}

const COMMAND_ACTIONS: Record<string, Decision['action']> = {
  pause: 'paused',
  resume: 'resumed',
  promote: 'promoted_stage',
  abort: 'aborted',
};

/** The ledger rebuilt from events, for runs no worker can answer a query about. */
export function decisionsFromHistory(h: RolloutHistory): DecisionView[] {
  const out: DecisionView[] = [];
  const at = (iso: string) => ({ at: iso, source: 'history' as const });
  let percent = 0;
  let stageIndex = -1;
  const percentAt = (t: string) => {
    let p = 0;
    for (const s of h.splits) if (s.at <= t) p = s.canary ? s.canaryWeight : 0;
    return p;
  };
  if (h.startedAt) {
    out.push({
      ...at(h.startedAt),
      action: 'started',
      by: 'agent-canary',
      reason: h.plan ? `${h.plan.stable} -> ${h.plan.canary}` : '',
      stageIndex: 0,
      percent: 0,
    });
  }
  for (const s of h.splits) {
    if (!s.canary) continue;
    stageIndex = stageOf(h, s.canaryWeight, stageIndex);
    percent = s.canaryWeight;
    out.push({
      ...at(s.at),
      action: 'stage_started',
      by: 'agent-canary',
      reason: s.summary || `canary at ${percent}%`,
      stageIndex,
      percent,
    });
  }
  for (const c of h.commands) {
    if (c.accepted === false) continue;
    const action = COMMAND_ACTIONS[c.name];
    if (!action) continue;
    out.push({
      ...at(c.at),
      action: c.name === 'promote' && c.full ? 'promoted' : action,
      by: c.by,
      reason: c.reason || `${c.name} (${c.via})`,
      stageIndex: Math.max(0, stageIndex),
      percent: percentAt(c.at),
    });
  }
  for (const c of h.checks) {
    if (c.verdict !== 'fail') continue;
    out.push({
      ...at(c.at),
      action: 'check_failed',
      by: 'agent-canary',
      reason: c.reason,
      stageIndex: Math.max(0, stageOf(h, c.percent, -1)),
      percent: c.percent,
    });
  }
  if (h.ending && h.ending.kind !== 'continued_as_new') {
    const e = h.ending;
    const action: Decision['action'] =
      e.state === 'promoted' ? 'promoted' : e.state === 'rolled_back' ? 'rolled_back' : 'aborted';
    out.push({
      ...at(e.at),
      action,
      by: e.by ?? 'agent-canary',
      reason: e.state ? e.reason : `workflow ${e.kind.replace('_', ' ')}${e.reason ? `: ${e.reason}` : ''}`,
      stageIndex: Math.max(0, stageIndex),
      percent: percentAt(e.at),
    });
  }
  return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

/** The plan stage a canary weight belongs to, searching forward from the current one. */
function stageOf(h: RolloutHistory, weight: number, from: number): number {
  const stages = h.plan?.stages ?? [];
  for (let i = Math.max(0, from); i < stages.length; i++) if (stages[i].weight === weight) return i;
  const any = stages.findIndex((s) => s.weight === weight);
  return any >= 0 ? any : Math.max(0, from);
}

/** Planned against actual, per stage: how long it took, how its checks went, what was predicted. */
export function stageViews(h: RolloutHistory): StageView[] {
  const stages = h.plan?.stages ?? [];
  const views: StageView[] = stages.map((s, index) => ({
    index,
    weight: s.weight,
    ...(s.shadow !== undefined ? { shadow: s.shadow } : {}),
    plannedObserveMs: s.observeMs,
    startedAt: null,
    endedAt: null,
    checks: { pass: 0, fail: 0, inconclusive: 0 },
    observedRps: null,
    predictedPassMs: null,
  }));
  let current = -1;
  for (const s of h.splits) {
    const prev = views[current];
    const next = s.canary ? stageOf(h, s.canaryWeight, current) : -1;
    if (prev && !prev.endedAt) prev.endedAt = s.at;
    if (s.canary && views[next]) {
      views[next].startedAt = s.at;
      views[next].endedAt = null;
      current = next;
    } else if (!s.canary && s.stable === h.plan?.canary) {
      // Promotion: the canary became stable, which is the last (100%) stage.
      const last = views.at(-1);
      if (last && last.weight === 100) last.startedAt ??= s.at;
      current = views.length - 1;
    }
  }
  if (h.ending && views[current] && !views[current].endedAt && views[current].weight !== 100)
    views[current].endedAt = h.ending.at;
  for (const c of h.checks) {
    const v = views.find((x) => x.weight === c.percent);
    if (!v) continue;
    v.checks[c.verdict] += 1;
    const windowS = (Date.parse(c.at) - Date.parse(c.since)) / 1000;
    if (windowS > 0) v.observedRps = (c.stableRequests + c.canaryRequests) / windowS;
  }
  if (h.plan && h.plan.analysis.judge === 'statistical') {
    for (const v of views) {
      if (!v.observedRps || v.weight >= 100) continue;
      const passes = predictDetection({
        analysis: h.plan.analysis,
        stageWeight: v.weight,
        requestsPerSecond: v.observedRps,
      }).map((m) => m.passMs);
      const slowest = Math.max(...passes);
      // The window ends on the first passing check after the observation time, whichever is later.
      if (Number.isFinite(slowest)) v.predictedPassMs = Math.max(slowest, v.plannedObserveMs);
    }
  }
  return views;
}

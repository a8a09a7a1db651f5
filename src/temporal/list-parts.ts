// The rollout list as both ways of reading it build it (the SDK in rollouts.ts, the HTTP API in
// http-list.ts): the visibility query and one summary per execution, so both give the same rows.
import type { RolloutState } from '../../workflows/messages';
import { SA_NAMES, WORKFLOW_TYPE } from './names';
import type { DescribedExecution } from './status-parts';

export interface RolloutSummary {
  workflowId: string;
  runId: string;
  agent: string;
  stable: string | null;
  canary: string | null;
  /** The rollout's own state as last published in search attributes. */
  state: RolloutState | null;
  percent: number | null;
  /** Temporal's execution status (Running, Completed, Terminated...): a terminated rollout says so here. */
  status: string;
  startTime: string;
  closeTime: string | null;
}

export interface ListOptions {
  state?: RolloutState;
  agent?: string;
  /** Only the workflows still running. */
  running?: boolean;
  limit?: number;
  /**
   * Only rollouts started on a code version below this one (src/contract/patches.ts), including those
   * that recorded none (started before code versions were recorded, or by another client).
   */
  codeVersionBelow?: number;
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function listQuery(opts: ListOptions = {}): string {
  // A run that continued as new is one step of a rollout whose next run is listed (every 50-100 events).
  const parts = [`WorkflowType = ${quote(WORKFLOW_TYPE)}`, `ExecutionStatus != 'ContinuedAsNew'`];
  if (opts.agent) parts.push(`${SA_NAMES.agent} = ${quote(opts.agent)}`);
  if (opts.state) parts.push(`${SA_NAMES.state} = ${quote(opts.state)}`);
  // A closed execution is not progressing or paused, whatever it last published (terminated, failed).
  const live = opts.state === 'progressing' || opts.state === 'paused';
  if (opts.running || live) parts.push(`ExecutionStatus = 'Running'`);
  if (opts.codeVersionBelow !== undefined) {
    const v = Math.floor(opts.codeVersionBelow);
    parts.push(`(${SA_NAMES.codeVersion} < ${v} OR ${SA_NAMES.codeVersion} IS NULL)`);
  }
  return parts.join(' AND ');
}

/** One row of the list, from an execution as visibility describes it. */
export function summaryOf(wf: DescribedExecution & { runId: string }): RolloutSummary {
  const sa = wf.attributes;
  return {
    workflowId: wf.workflowId,
    runId: wf.runId,
    agent: sa.agent ?? wf.workflowId.replace(/^canary-/, ''),
    stable: sa.stableVersion ?? null,
    canary: sa.canaryVersion ?? null,
    state: (sa.state as RolloutState | undefined) ?? null,
    percent: sa.percent ?? null,
    status: wf.status,
    startTime: wf.startTime.toISOString(),
    closeTime: wf.closeTime ? wf.closeTime.toISOString() : null,
  };
}

/**
 * What a list row should call a run: the rollout's own state while it runs and when it ended by its
 * own decision (Completed; Failed as rolled back; Canceled as aborted, see docs/web-ui.md), else the
 * Temporal status in lower case (terminated, failed, timed out: the published state is stale then).
 */
export function listedState(r: Pick<RolloutSummary, 'status' | 'state'>): string {
  const own =
    r.status === 'RUNNING' ||
    r.status === 'COMPLETED' ||
    (r.status === 'FAILED' && r.state === 'rolled_back') ||
    (r.status === 'CANCELLED' && r.state === 'aborted');
  return own ? (r.state ?? '-') : r.status.toLowerCase();
}

/**
 * The versions a list row should name as stable and canary now. Search attributes keep the plan's
 * canary after the run ends, and after a promotion the stable attribute holds the canary too, so read
 * raw they say "v2 stable, v2 canary". By the rollout's own ending: promoted, the canary is the
 * stable and there is no canary; rolled back or aborted, only the stable serves. A run that ended any
 * other way (terminated, failed, timed out) keeps what it last published: nobody can say more.
 */
export function listedVersions(r: Pick<RolloutSummary, 'status' | 'state' | 'stable' | 'canary'>): {
  stable: string | null;
  canary: string | null;
} {
  const ending = listedState(r);
  if (ending === 'promoted') return { stable: r.canary ?? r.stable, canary: null };
  if (ending === 'rolled_back' || ending === 'aborted') return { stable: r.stable, canary: null };
  return { stable: r.stable, canary: r.canary };
}

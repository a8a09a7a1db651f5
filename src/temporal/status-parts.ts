// What both ways of reading a rollout's status share (the SDK in rollouts.ts, the HTTP API in
// http-status.ts), so that they give the same answer and the same errors: how a closed execution's
// outcome reads, the status of an execution no worker answers for, the no-worker message.
import type { RolloutState, RolloutStatus } from '../../workflows/messages';
import { NoWorkerError } from './errors';
import { blankStatus } from '../contract';
import { isFinal, ROLLED_BACK_FAILURE, ROLLOUT_STATE_NAMES, TASK_QUEUE } from './names';

/** How long a query may wait for a worker before we tell the user none is answering. */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;

/** Temporal execution states in which the workflow's own state is not the whole story. */
export const ABNORMAL_CLOSE: ReadonlySet<string> = new Set([
  'TERMINATED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
]);

export const NO_WORKER_FIX =
  `  Fix: make sure a worker polls task queue "${TASK_QUEUE}": run \`agent-canary worker\` ` +
  '(or `agent-canary dev`, which runs one).';

/** The rollout will not change any more: it ended by itself, or its execution was closed. */
export function hasEnded(s: RolloutStatus): boolean {
  return isFinal(s.state) || s.execution !== undefined;
}

/** The search attributes a rollout publishes, decoded. */
export interface PublishedAttributes {
  agent?: string;
  state?: string;
  percent?: number;
  canaryVersion?: string;
  stableVersion?: string;
}

/** An execution as Temporal describes it, whichever API it came through. */
export interface DescribedExecution {
  workflowId: string;
  /** The SDK's name of the execution status: RUNNING, COMPLETED, TERMINATED, CANCELLED... */
  status: string;
  startTime: Date;
  closeTime?: Date;
  attributes: PublishedAttributes;
}

export function noWorkerError(d: DescribedExecution): NoWorkerError {
  const sa = d.attributes;
  const last = ` (last published: ${sa.state ?? '?'} at ${sa.percent ?? '?'}% canary, workflow ${d.status})`;
  return new NoWorkerError(
    `no worker answered the status query for ${d.workflowId}${last}.\n${NO_WORKER_FIX}`,
  );
}

/** Status from visibility alone: for an execution no worker can answer for. */
export function statusFromVisibility(d: DescribedExecution, agent: string): RolloutStatus {
  const sa = d.attributes;
  const at = (d.closeTime ?? new Date()).toISOString();
  const started = d.startTime.toISOString();
  return {
    ...blankStatus(
      {
        workflowId: d.workflowId,
        agent: sa.agent ?? agent,
        stable: sa.stableVersion ?? '?',
        canary: sa.canaryVersion ?? '?',
      },
      at,
    ),
    state: (sa.state as RolloutState | undefined) ?? 'progressing',
    canaryPercent: sa.percent ?? 0,
    stageStartedAt: started,
    startedAt: started,
  };
}

/** A failure as Temporal's API carries it: the SDK's decoded proto and the HTTP API's JSON alike. */
export interface FailureLike {
  message?: string | null;
  cause?: FailureLike | null;
  applicationFailureInfo?: { type?: string | null; details?: { payloads?: unknown[] | null } | null } | null;
}

/** A history's close event: field names are the same in the SDK's protos and the HTTP API's JSON. */
export interface CloseEvent {
  workflowExecutionFailedEventAttributes?: { failure?: FailureLike | null } | null;
  workflowExecutionCanceledEventAttributes?: object | null;
  workflowExecutionTerminatedEventAttributes?: { reason?: string | null } | null;
  workflowExecutionTimedOutEventAttributes?: object | null;
}

/** The message of a failure chain that says something (not "Activity task failed"). */
export function innermostMessage(err: unknown): string | null {
  let e = err as FailureLike | undefined | null;
  let message: string | null = null;
  // ActivityFailure("Activity task failed") wraps the error that says something: go down the chain.
  for (let depth = 0; e && depth < 10; depth++) {
    if (e.message && !/^Activity task failed$/i.test(e.message)) message = e.message;
    if (!e.cause) break;
    e = e.cause;
  }
  return message;
}

/**
 * Why a closed execution ended, in words, from its close event: the failure the workflow reported
 * (e.g. "the router refused the split: unknown agent"), the reason given to terminate, or the
 * timeout; null when it completed. The words are the SDK's (as `handle.result()` throws them).
 */
export function closeEventCause(ev: CloseEvent | null | undefined): string | null {
  if (!ev) return null;
  if (ev.workflowExecutionFailedEventAttributes) {
    return innermostMessage(ev.workflowExecutionFailedEventAttributes.failure) ?? 'Workflow execution failed';
  }
  if (ev.workflowExecutionTerminatedEventAttributes) {
    return ev.workflowExecutionTerminatedEventAttributes.reason || 'Workflow execution terminated';
  }
  if (ev.workflowExecutionCanceledEventAttributes) return 'Workflow canceled';
  if (ev.workflowExecutionTimedOutEventAttributes) return 'Workflow execution timed out';
  return null;
}

/** How a closed run ended: whether the rollout chose it (its outcome), and the cause in words. */
export interface CloseReading {
  own: boolean;
  cause: string | null;
}

/** The payload of a failed close's first detail (a rolled-back run's RolloutResult), still encoded. */
export function firstDetailPayload(ev: CloseEvent | null | undefined): unknown {
  return ev?.workflowExecutionFailedEventAttributes?.failure?.applicationFailureInfo?.details?.payloads?.[0];
}

function isRolloutResult(v: unknown): boolean {
  const r = v as { state?: unknown; stable?: unknown; reason?: unknown } | null;
  return (
    !!r &&
    typeof r === 'object' &&
    (ROLLOUT_STATE_NAMES as readonly unknown[]).includes(r.state) &&
    typeof r.stable === 'string' &&
    typeof r.reason === 'string'
  );
}

/**
 * A close event read the one way both paths read it. `detail` is firstDetailPayload decoded by the
 * caller's data converter. The rollout's own endings: Completed; Failed as RolledBack with its result;
 * Canceled (an abort). Terminated, timed out, or failed otherwise (a configuration error): not its own.
 */
export function readClose(ev: CloseEvent | null | undefined, detail?: unknown): CloseReading {
  if (!ev) return { own: false, cause: null };
  const cause = closeEventCause(ev);
  const failed = ev.workflowExecutionFailedEventAttributes;
  if (failed) {
    const type = failed.failure?.applicationFailureInfo?.type;
    return { own: type === ROLLED_BACK_FAILURE && isRolloutResult(detail), cause };
  }
  if (ev.workflowExecutionCanceledEventAttributes) return { own: true, cause };
  if (ev.workflowExecutionTerminatedEventAttributes || ev.workflowExecutionTimedOutEventAttributes) {
    return { own: false, cause };
  }
  return { own: true, cause: null };
}

/**
 * The status of a closed run as the client tells it: a run that ended by the rollout's own decision
 * (rolled back, aborted) is its own status; one closed otherwise (terminated, failed, timed out,
 * cancelled from outside) gets that state and its cause in `execution`, and stops counting.
 */
export function withExecution(
  base: RolloutStatus,
  d: DescribedExecution,
  close: CloseReading,
): RolloutStatus {
  if (close.own && isFinal(base.state)) return base;
  const cause = close.cause;
  return {
    ...base,
    remainingMs: 0,
    observing: false,
    execution: { status: d.status, closedAt: d.closeTime ? d.closeTime.toISOString() : null, cause },
  };
}

// The client side of a rollout: start, status, commands and listing, shared by the CLI, the demo
// and tests. Every failure a user can cause comes back as a RolloutError saying how to fix it.
import {
  ServiceError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  WorkflowUpdateStage,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import {
  ApplicationFailure,
  CancelledFailure,
  NamespaceNotFoundError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
} from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { z } from 'zod';
import { planForWorkflow, problemsFromZod, PlanError, type PlanInput, type ResolvedPlan } from '../plan';
import {
  isFinal,
  ROLLED_BACK_FAILURE,
  abortUpdate,
  dismissUpdate,
  approveUpdate,
  extendUpdate,
  pauseUpdate,
  promoteUpdate,
  resumeUpdate,
  SA,
  statusQuery,
  TASK_QUEUE,
  WORKFLOW_TYPE,
  workflowIdFor,
  type RolloutResult,
  type RolloutStatus,
} from '../../workflows/messages';
import { CODE_VERSION, PREFLIGHT_WORKFLOW_TYPE } from '../contract';
import { admission, admissionViewOfStatus } from '../../workflows/policy/admission';
import { staticDetails, staticSummary } from '../../workflows/view';
import type { Command as PolicyCommand } from '../../workflows/policy/types';
import {
  AbortInputSchema,
  ApproveInputSchema,
  DismissInputSchema,
  ExtendInputSchema,
  PauseInputSchema,
  PromoteInputSchema,
  ResumeInputSchema,
} from './command-schemas';
import { SIGNAL_METRICS } from '../analysis/types';
import {
  ABNORMAL_CLOSE,
  DEFAULT_QUERY_TIMEOUT_MS,
  firstDetailPayload,
  innermostMessage,
  NO_WORKER_FIX,
  noWorkerError,
  readClose,
  statusFromVisibility as visibleStatus,
  withExecution,
  type CloseEvent,
  type CloseReading,
  type DescribedExecution,
} from './status-parts';
import { listQuery, summaryOf, type ListOptions, type RolloutSummary } from './list-parts';
import {
  AlreadyRunningError,
  CommandPendingError,
  CommandRefusedError,
  NoWorkerError,
  RolloutError,
  UnknownAgentError,
} from './errors';

export { DEFAULT_QUERY_TIMEOUT_MS };
/** Updates wait for their effect (promote: the new split written), so they get longer. */
export const DEFAULT_UPDATE_TIMEOUT_MS = 20_000;

function grpcCode(err: unknown): number | undefined {
  const cause = (err as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === 'number' ? cause.code : undefined;
}
const GRPC_CANCELLED = 1;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_INVALID_ARGUMENT = 3;

/**
 * The call got no answer in time. A client deadline surfaces as DEADLINE_EXCEEDED or as CANCELLED
 * (the channel cancels the call at the deadline, depending on which side notices first); both mean
 * the same to the user.
 */
function noAnswerInTime(err: unknown): boolean {
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
  const code = grpcCode(err) ?? (err as { code?: unknown }).code;
  return code === GRPC_DEADLINE_EXCEEDED || code === GRPC_CANCELLED;
}

export interface StartOptions {
  /** Overrides the workflow id (tests running in parallel); defaults to workflowIdFor(agent). */
  workflowId?: string;
  /** Overrides the task queue (a team running its own workers on another queue; tests). */
  taskQueue?: string;
  /** Set by retryRollout: the run this one starts again, and who asked why (the first decision). */
  retry?: { by: string; reason: string; previousRunId: string };
}

export interface Started {
  workflowId: string;
  runId: string;
  /** Resolves with the workflow's result once the rollout ends. */
  result: () => Promise<RolloutResult>;
}

/**
 * Starts a rollout: the canaryRollout workflow under id `canary-<agent>`, with search attributes and
 * the Web UI summary set.
 *
 * @param client - a connected Temporal client (see `connect` in the package entry).
 * @param plan - the plan as a team writes it (the JSON form of the YAML) or as resolvePlan returns it;
 *   checked here first, so a bad plan is a PlanError naming each field before anything is sent.
 * @param opts - another workflow id or task queue.
 * @returns the workflow id and run id, and `result()` resolving when the rollout ends.
 * @throws AlreadyRunningError while a rollout runs for the same agent; PlanError for a bad plan.
 */
export async function startRollout(
  client: Client,
  input: ResolvedPlan | PlanInput,
  opts: StartOptions = {},
): Promise<Started> {
  const plan = planForWorkflow(input);
  const workflowId = opts.workflowId ?? workflowIdFor(plan.agent);
  try {
    const handle = await client.workflow.start(WORKFLOW_TYPE, {
      // outcomeStatus: the run closes as Completed, Failed or Canceled by outcome (docs/web-ui.md);
      // planChecked: resolved and checked above, so the workflow needs no activity to resolve it.
      args: [plan, { outcomeStatus: true, planChecked: true, ...(opts.retry ? { retry: opts.retry } : {}) }],
      taskQueue: opts.taskQueue ?? TASK_QUEUE,
      workflowId,
      typedSearchAttributes: [
        { key: SA.agent, value: plan.agent },
        { key: SA.state, value: 'progressing' },
        { key: SA.percent, value: 0 },
        { key: SA.canaryVersion, value: plan.canary },
        { key: SA.stableVersion, value: plan.stable },
        // The code version it starts on, so `list --code-version-below` can count old rollouts.
        { key: SA.codeVersion, value: CODE_VERSION },
      ],
      staticSummary: staticSummary(plan),
      staticDetails: staticDetails(plan),
    });
    return {
      workflowId,
      runId: handle.firstExecutionRunId,
      result: () => rolloutResult(client, workflowId, handle.firstExecutionRunId),
    };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new AlreadyRunningError(plan.agent, workflowId);
    if (grpcCode(err) === GRPC_INVALID_ARGUMENT && /search attribute/i.test(String(errDetail(err)))) {
      throw new RolloutError(
        `the Temporal server does not know agent-canary's search attributes: ${errDetail(err)}.\n` +
          '  Fix: `agent-canary dev` registers them; on your own server run ' +
          '`temporal operator search-attribute create --name CanaryAgent --type Keyword` ' +
          '(and CanaryState Keyword, CanaryPercent Int, CanaryVersion Keyword, StableVersion Keyword, ' +
          'CanaryCodeVersion Int).',
      );
    }
    throw mapServiceError(err, `start the rollout for "${plan.agent}"`);
  }
}

function errDetail(err: unknown): string {
  const cause = (err as { cause?: { details?: string; message?: string } }).cause;
  return cause?.details ?? cause?.message ?? (err as Error).message;
}

function mapServiceError(err: unknown, doing: string): Error {
  if (err instanceof RolloutError) return err;
  if (err instanceof NamespaceNotFoundError) {
    return new RolloutError(
      `could not ${doing}: the namespace "${err.namespace}" does not exist on this server.\n` +
        '  Fix: pick an existing namespace with --namespace or TEMPORAL_NAMESPACE (`agent-canary dev` uses "default").',
    );
  }
  if (err instanceof ServiceError) {
    if (/namespace/i.test(errDetail(err)) && /not found/i.test(errDetail(err))) {
      return new RolloutError(
        `could not ${doing}: ${errDetail(err)}.\n  Fix: pick an existing namespace with --namespace or TEMPORAL_NAMESPACE.`,
      );
    }
    return new RolloutError(`could not ${doing}: ${errDetail(err)}`);
  }
  return err as Error;
}

async function withDeadline<T>(client: Client, ms: number, fn: () => Promise<T>): Promise<T> {
  return client.withDeadline(Date.now() + ms, fn);
}

export interface RpcOptions {
  workflowId?: string;
  timeoutMs?: number;
}

/** The execution as Temporal sees it; UnknownAgentError when there is none. */
async function describeRollout(client: Client, agent: string, workflowId: string, timeoutMs: number) {
  try {
    return await withDeadline(client, timeoutMs, () => client.workflow.getHandle(workflowId).describe());
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new UnknownAgentError(agent, workflowId, client.options.namespace);
    if (noAnswerInTime(err)) {
      throw new RolloutError(`the Temporal server did not answer in time about ${workflowId}`);
    }
    throw mapServiceError(err, `get the status of ${workflowId}`);
  }
}

const RolloutResultSchema = z.object({
  state: z.enum(['progressing', 'paused', 'promoted', 'rolled_back', 'aborted']),
  stable: z.string(),
  reason: z.string(),
});

/**
 * How a closed run ended by the rollout's own decision, whichever way it closed in Temporal:
 * Completed with the result; Failed as RolledBack with the result as the failure's detail; Canceled
 * after an abort (the result from its status, read back from the closed run). Null for an ending
 * the rollout did not choose (a configuration error, terminate, timeout).
 */
export function ownResult(err: unknown): RolloutResult | 'canceled' | null {
  if (!(err instanceof WorkflowFailedError)) return null;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && cause.type === ROLLED_BACK_FAILURE) {
    const parsed = RolloutResultSchema.safeParse(cause.details?.[0]);
    return parsed.success ? parsed.data : null;
  }
  return cause instanceof CancelledFailure ? 'canceled' : null;
}

/**
 * The result of a rollout run, as a RolloutResult however the run closed for its outcome (see
 * {@link ownResult}); any other ending is thrown as the SDK's WorkflowFailedError.
 */
export async function rolloutResult(
  client: Client,
  workflowId: string,
  firstExecutionRunId?: string,
): Promise<RolloutResult> {
  const handle = client.workflow.getHandle(workflowId, undefined, { firstExecutionRunId });
  try {
    return (await handle.result()) as RolloutResult;
  } catch (err) {
    const own = ownResult(err);
    if (own === null) throw err;
    if (own !== 'canceled') return own;
    // A Canceled run carries no result: the aborted state and its reason are in the run's status.
    const s = await withDeadline(client, DEFAULT_QUERY_TIMEOUT_MS, () => handle.query(statusQuery)).catch(
      () => null,
    );
    if (!s || s.state !== 'aborted') throw err;
    const abort = [...s.decisions].reverse().find((d) => d.action === 'aborted');
    return { state: 'aborted', stable: s.stable, reason: abort?.reason ?? 'aborted' };
  }
}

/**
 * Why a closed execution ended, in words: the failure the workflow reported (e.g. "the router
 * refused the split: unknown agent"), the reason given to terminate, or the timeout.
 */
export async function closeCause(client: Client, workflowId: string): Promise<string | null> {
  return (await closeOf(client, workflowId)).cause;
}

/**
 * A closed run's ending (whether the rollout chose it, and the cause), from its close event, read as
 * the HTTP path reads it (status-parts.ts readClose), so both paths tell the same.
 */
export async function closeOf(client: Client, workflowId: string): Promise<CloseReading> {
  let ev: CloseEvent | undefined;
  try {
    const page = await withDeadline(client, 5_000, () =>
      client.workflowService.getWorkflowExecutionHistory({
        namespace: client.options.namespace,
        execution: { workflowId },
        historyEventFilterType: 2, // HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT
        skipArchival: true,
      }),
    );
    ev = page.history?.events?.[0] as CloseEvent | undefined;
  } catch {
    return { own: false, cause: null };
  }
  const payload = firstDetailPayload(ev);
  const detail = payload
    ? await decodeFromPayloadsAtIndex(client.workflow.options.loadedDataConverter, 0, [
        payload as never,
      ]).catch(() => undefined)
    : undefined;
  return readClose(ev, detail);
}

export { innermostMessage };

/** The execution as both status paths see it (from a describe, or a row of the visibility list). */
function described(
  d: Pick<
    WorkflowExecutionInfo,
    'workflowId' | 'status' | 'startTime' | 'closeTime' | 'typedSearchAttributes'
  >,
): DescribedExecution {
  const sa = d.typedSearchAttributes;
  return {
    workflowId: d.workflowId,
    status: d.status.name,
    startTime: d.startTime,
    closeTime: d.closeTime,
    attributes: {
      agent: sa.get(SA.agent),
      state: sa.get(SA.state),
      percent: sa.get(SA.percent),
      canaryVersion: sa.get(SA.canaryVersion),
      stableVersion: sa.get(SA.stableVersion),
    },
  };
}

/** Status from visibility alone: for an execution no worker can answer for. */
function statusFromVisibility(d: WorkflowExecutionDescription, agent: string): RolloutStatus {
  return visibleStatus(described(d), agent);
}

/**
 * The rollout's status, true to the execution's state: the workflow's own status (query `status`),
 * and for an execution that was terminated, failed, timed out or cancelled, that state with its
 * cause in `execution` (the workflow never saw a terminate, so its own view would still count).
 *
 * @param agent - the agent's name (the workflow id is `canary-<agent>` unless opts.workflowId says).
 * @returns stage, canary share, observation time, last verdict per metric, decisions (who, why).
 * @throws UnknownAgentError when there is no such rollout; NoWorkerError when no worker answers.
 */
export async function getStatus(
  client: Client,
  agent: string,
  opts: RpcOptions = {},
): Promise<RolloutStatus> {
  const workflowId = opts.workflowId ?? workflowIdFor(agent);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const d = await describeRollout(client, agent, workflowId, timeoutMs);
  const handle = client.workflow.getHandle(workflowId);
  const status = d.status.name;
  const close = ABNORMAL_CLOSE.has(status) ? await closeOf(client, workflowId) : null;
  // An ending the rollout did not choose (terminated, timed out, a configuration failure): its own
  // view would still count, so the execution's state and cause come with it. A rollback (Failed)
  // or an abort (Canceled) it chose is read as a completed run is, below: a missing worker is said.
  if (close && !close.own) {
    let base: RolloutStatus;
    try {
      base = await withDeadline(client, Math.min(timeoutMs, 3_000), () => handle.query(statusQuery));
    } catch {
      base = statusFromVisibility(d, agent);
    }
    return withExecution(base, described(d), close);
  }
  try {
    return await withDeadline(client, timeoutMs, () => handle.query(statusQuery));
  } catch (err) {
    if (noAnswerInTime(err)) throw noWorkerError(described(d));
    throw mapServiceError(err, `get the status of ${workflowId}`);
  }
}

export interface PreflightResult {
  /** One line per problem, each naming what is wrong; empty when the rollout can start. */
  problems: string[];
}

/**
 * Checks, before a rollout starts, what would stop it, with the worker's own backends: a worker
 * polls, the router knows the agent and both versions, their upstreams answer, the metrics source
 * answers with the configured credentials.
 */
export async function preflightRollout(
  client: Client,
  plan: ResolvedPlan,
  opts: { taskQueue?: string; timeoutMs?: number } = {},
): Promise<PreflightResult> {
  const taskQueue = opts.taskQueue ?? TASK_QUEUE;
  if (!(await workerPolls(client, taskQueue))) {
    return {
      problems: [
        `no worker polls task queue "${taskQueue}": nobody would carry the rollout out. ` +
          'Start one with `agent-canary worker` (or `agent-canary dev`).',
      ],
    };
  }
  const workflowId = `preflight-${plan.agent}-${Date.now().toString(36)}`;
  const signals = plan.analysis.metrics.filter((m) => (SIGNAL_METRICS as readonly string[]).includes(m));
  try {
    const answer = await withDeadline(client, opts.timeoutMs ?? 40_000, () =>
      client.workflow.execute(PREFLIGHT_WORKFLOW_TYPE, {
        args: [
          {
            agent: plan.agent,
            stable: plan.stable,
            canary: plan.canary,
            // Only when there are any, so that a worker from before them still runs the checks.
            ...(signals.length > 0 ? { metrics: signals } : {}),
            ...(plan.stages[0]?.shadow !== undefined ? { shadow: true } : {}),
          },
        ],
        taskQueue,
        workflowId,
      }),
    );
    // The router and the metrics source are often the same gateway: one line per problem.
    return { problems: [...new Set((answer as PreflightResult).problems)] };
  } catch (err) {
    if (noAnswerInTime(err)) {
      return { problems: [`the worker did not run the preflight checks in time (workflow ${workflowId})`] };
    }
    if (err instanceof WorkflowFailedError) {
      return { problems: [`preflight failed: ${innermostMessage(err) ?? err.message}`] };
    }
    throw mapServiceError(err, `run the preflight checks for "${plan.agent}"`);
  } finally {
    await forgetPreflight(client, workflowId);
  }
}

/**
 * A preflight is a question, not a rollout: its execution is deleted once answered, so the Temporal
 * Web UI's list holds rollouts only (it had one preflight row per start). The server deletes it in
 * the background (about a minute on the dev server). Best effort: a server that refuses leaves it
 * to the namespace's retention.
 */
async function forgetPreflight(client: Client, workflowId: string): Promise<void> {
  await withDeadline(client, 5_000, () =>
    client.workflowService.deleteWorkflowExecution({
      namespace: client.options.namespace,
      workflowExecution: { workflowId },
    }),
  ).catch(() => undefined);
}

/** Seen polling within this long: an idle worker's long poll renews its record about once a minute. */
const POLLER_FRESH_MS = 75_000;

/** Whether any worker polled the task queue lately (a crashed worker still shows for a minute). */
export async function workerPolls(client: Client, taskQueue: string): Promise<boolean> {
  const answer = await withDeadline(client, 5_000, () =>
    client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
    }),
  );
  const now = Date.now();
  return (answer.pollers ?? []).some((p) => {
    const t = p.lastAccessTime;
    if (!t) return false;
    const ms = Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
    return now - ms < POLLER_FRESH_MS;
  });
}

export const COMMANDS = ['pause', 'resume', 'promote', 'abort', 'extend', 'dismiss', 'approve'] as const;
/** A command to a running rollout, sent by {@link sendCommand}. */
export type Command = (typeof COMMANDS)[number];

const COMMAND_DEFS = {
  pause: { schema: PauseInputSchema, update: pauseUpdate },
  resume: { schema: ResumeInputSchema, update: resumeUpdate },
  promote: { schema: PromoteInputSchema, update: promoteUpdate },
  abort: { schema: AbortInputSchema, update: abortUpdate },
  extend: { schema: ExtendInputSchema, update: extendUpdate },
  dismiss: { schema: DismissInputSchema, update: dismissUpdate },
  approve: { schema: ApproveInputSchema, update: approveUpdate },
} as const;

export type CommandInput<C extends Command> = z.input<(typeof COMMAND_DEFS)[C]['schema']>;

/**
 * Whether the rollout, as its status shows it, takes this command now: the workflow's own admission
 * rule (workflows/policy/admission.ts) asked of the status, so a refusal reads the same from the CLI,
 * the dashboard and the workflow. Null when it is taken (the workflow still has the last word).
 */
export function admitCommand<C extends Command>(
  status: RolloutStatus,
  command: C,
  input: CommandInput<C>,
): string | null {
  const data = parseCommandInput(command, input);
  return admission(admissionViewOfStatus(status), { kind: command, input: data } as PolicyCommand);
}

/** Checks a command's input before anything is sent; CommandInputError names each bad field. */
export function parseCommandInput<C extends Command>(command: C, input: CommandInput<C>) {
  const parsed = COMMAND_DEFS[command].schema.safeParse(input);
  if (!parsed.success) throw new CommandInputError(command, problemsFromZod(parsed.error));
  return parsed.data;
}

/**
 * Sends a command (pause, resume, promote, abort, extend, dismiss, approve) as an Update and returns the
 * status once it took effect. What the user is told is what will happen:
 * - NoWorkerError: no worker polls the rollout's task queue; nothing was sent.
 * - CommandRefusedError: the workflow refused it (e.g. already paused), or the rollout is closed.
 * - CommandPendingError: the workflow accepted it and is still carrying it out (e.g. the abort's
 *   stable write waits for the router); it will happen. Or it was sent and is queued for a busy worker.
 * Bad input is a CommandInputError before anything is sent.
 *
 * @param agent - the agent's name.
 * @param command - pause, resume, promote, abort, extend (`{duration: "30m"}`), dismiss or approve.
 * @param input - the command's payload: `by` and `reason` for all, recorded in the decisions.
 * @returns the rollout's status once the command took effect.
 */
export async function sendCommand<C extends Command>(
  client: Client,
  agent: string,
  command: C,
  input: CommandInput<C>,
  opts: RpcOptions & { status?: RolloutStatus } = {},
): Promise<RolloutStatus> {
  const def = COMMAND_DEFS[command];
  const data = parseCommandInput(command, input);
  const known = opts.status ? admitCommand(opts.status, command, input) : null;
  if (known) throw new CommandRefusedError(`${command} refused for "${agent}": ${known}`);
  const workflowId = opts.workflowId ?? workflowIdFor(agent);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_UPDATE_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const handle = client.workflow.getHandle(workflowId);
  const d = await describeRollout(client, agent, workflowId, Math.min(timeoutMs, 5_000));
  if (d.status.name !== 'RUNNING') throw await finishedError(client, d, agent, command);
  if (!(await workerPolls(client, d.taskQueue))) {
    throw new NoWorkerError(
      `no worker polls task queue "${d.taskQueue}": the ${command} command for ${workflowId} was not sent, ` +
        `and nothing will happen until you send it again.\n${NO_WORKER_FIX}`,
    );
  }
  let update;
  try {
    update = await withDeadline(client, Math.max(1_000, deadline - Date.now()), () =>
      handle.startUpdate(def.update as typeof pauseUpdate, {
        // The schema's output (e.g. extend's duration in ms) is valid input again.
        args: [data as never],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const why = err.cause?.message ?? err.message;
      throw new CommandRefusedError(`${command} refused for "${agent}": ${why}`);
    }
    if (err instanceof WorkflowNotFoundError) {
      throw await finishedError(
        client,
        await describeRollout(client, agent, workflowId, 5_000),
        agent,
        command,
      );
    }
    if (noAnswerInTime(err)) {
      throw new CommandPendingError(
        `the ${command} command for ${workflowId} was sent, but the workflow has not taken it within ` +
          `${Math.round(timeoutMs / 1000)}s: a worker polls, but has not got to it (overloaded or restarting). ` +
          'The server keeps it queued and the workflow will apply or refuse it when it does ' +
          '(a Temporal server restart before then would drop it).\n' +
          `  Check: agent-canary status ${agent}`,
      );
    }
    throw mapServiceError(err, `${command} ${workflowId}`);
  }
  try {
    return await withDeadline(client, Math.max(1_000, deadline - Date.now()), () => update.result());
  } catch (err) {
    if (noAnswerInTime(err)) throw await stillApplying(client, agent, workflowId, command);
    // A validator's refusal reaches the client here when waiting for acceptance only.
    if (err instanceof WorkflowUpdateFailedError) {
      throw new CommandRefusedError(
        `${command} refused for "${agent}": ${err.cause?.message ?? err.message}`,
      );
    }
    throw mapServiceError(err, `${command} ${workflowId}`);
  }
}

export interface RetryOptions {
  /** Overrides the workflow id (tests); defaults to workflowIdFor(agent). */
  workflowId?: string;
  /** Who retries and why, recorded as the new run's first decision. */
  by?: string;
  reason?: string;
  timeoutMs?: number;
}

export const RetryInputSchema = z
  .object({ by: z.string().min(1).max(200).optional(), reason: z.string().max(2000).optional() })
  .strict();

/**
 * Starts again, from the same plan and under the same workflow id, a rollout that ended without
 * promoting (rolled back, aborted, or an execution that was terminated, failed or cancelled). Refused
 * with CommandRefusedError while it still runs, or once it was promoted (the canary is stable now:
 * a new rollout needs a new plan). The plan is read from the last run's own input, so a rollout
 * started by any client (a plan as written, or resolved) is retried as it was.
 */
export async function retryRollout(
  client: Client,
  agent: string,
  opts: RetryOptions = {},
): Promise<Started & { previousRunId: string; plan: ResolvedPlan }> {
  const input = RetryInputSchema.safeParse({ by: opts.by, reason: opts.reason });
  if (!input.success) throw new CommandInputError('retry', problemsFromZod(input.error));
  const workflowId = opts.workflowId ?? workflowIdFor(agent);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const d = await describeRollout(client, agent, workflowId, timeoutMs);
  const state = d.typedSearchAttributes.get(SA.state);
  if (d.status.name === 'RUNNING') {
    throw new CommandRefusedError(
      `the rollout for "${agent}" is still running (${(state ?? 'progressing').replace('_', ' ')}); there is nothing to retry.\n` +
        `  Fix: wait for it to end, or stop it first with \`agent-canary abort ${agent} --reason "..."\`.`,
    );
  }
  if (state === 'promoted') {
    throw new CommandRefusedError(
      `the rollout for "${agent}" was promoted: ${d.typedSearchAttributes.get(SA.canaryVersion) ?? 'the canary'} is stable now, ` +
        'so there is nothing to retry.\n  Fix: start a rollout of a new canary with `agent-canary start -f <your plan>`.',
    );
  }
  const plan = await planOfRun(client, workflowId, d.runId, timeoutMs);
  const abnormal = ABNORMAL_CLOSE.has(d.status.name) && !(await closeOf(client, workflowId)).own;
  const how = abnormal ? d.status.name.toLowerCase() : (state ?? 'ended').replace('_', ' ');
  const started = await startRollout(client, plan, {
    workflowId,
    taskQueue: d.taskQueue,
    retry: {
      by: input.data.by || 'unknown',
      reason: input.data.reason || `retried after it was ${how}`,
      previousRunId: d.runId,
    },
  });
  return { ...started, previousRunId: d.runId, plan };
}

/** The plan a run was started with: the first argument of its first event, checked like the workflow does. */
async function planOfRun(client: Client, workflowId: string, runId: string, timeoutMs: number) {
  let raw: unknown;
  try {
    const page = await withDeadline(client, timeoutMs, () =>
      client.workflowService.getWorkflowExecutionHistory({
        namespace: client.options.namespace,
        execution: { workflowId, runId },
        maximumPageSize: 1,
      }),
    );
    const attrs = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
    raw = await decodeFromPayloadsAtIndex(
      client.workflow.options.loadedDataConverter,
      0,
      attrs?.input?.payloads,
    );
  } catch (err) {
    throw mapServiceError(err, `read the plan of ${workflowId}`);
  }
  try {
    return planForWorkflow(raw);
  } catch (err) {
    if (err instanceof PlanError) {
      throw new CommandRefusedError(
        `the plan of the last run of ${workflowId} is not valid any more: ${err.message}`,
      );
    }
    throw err;
  }
}

/** The command was accepted; say what its effect still waits for, and that it will happen. */
async function stillApplying(client: Client, agent: string, workflowId: string, command: string) {
  let waiting = 'its traffic change';
  try {
    const s = await client.workflow.getHandle(workflowId).query(statusQuery);
    if (s.applying) {
      const seconds = Math.max(0, Math.round((Date.now() - Date.parse(s.applying.since)) / 1000));
      waiting =
        `the router to take "${s.applying.what}" (${seconds}s so far` +
        `${s.applying.lastError ? `; last error: ${s.applying.lastError}` : ''})`;
    }
  } catch {
    // the status is a nicety here; the acceptance is what we know
  }
  return new CommandPendingError(
    `${command} accepted by the rollout for "${agent}" and still being carried out: waiting for ${waiting}. ` +
      'It is retried until it lands; nothing more to do.\n' +
      `  Follow it: agent-canary status ${agent} --watch`,
  );
}

/** A command for a closed execution: say how it ended, with its cause. */
async function finishedError(
  client: Client,
  d: WorkflowExecutionDescription,
  agent: string,
  command: string,
): Promise<RolloutError> {
  const status = d.status.name;
  const state = d.typedSearchAttributes.get(SA.state);
  const close = ABNORMAL_CLOSE.has(status) ? await closeOf(client, d.workflowId) : null;
  const how =
    close && !close.own
      ? `${status.toLowerCase().replace('_', ' ')}${close.cause ? `: ${close.cause}` : ''}`
      : (state ?? status.toLowerCase()).replace('_', ' ');
  // Anything but a promotion can run again with the same plan: `retry` is the next step there.
  const fix =
    state === 'promoted'
      ? 'start a rollout of a new canary with `agent-canary start -f <your plan>`'
      : `run it again with the same plan: \`agent-canary retry ${agent}\``;
  return new CommandRefusedError(
    `the rollout for "${agent}" already ended (${how}); there is nothing to ${command}.\n  Fix: ${fix}.`,
  );
}

export class CommandInputError extends PlanError {
  override name = 'CommandInputError';
  constructor(
    readonly command: string,
    problems: PlanError['problems'],
  ) {
    super(problems);
    this.message = `invalid ${command} command:\n${problems.map((p) => `  - ${p.field || '(input)'}: ${p.message}`).join('\n')}`;
  }
}

export { listQuery, type ListOptions, type RolloutSummary } from './list-parts';

function summarize(wf: WorkflowExecutionInfo): RolloutSummary {
  return summaryOf({ ...described(wf), runId: wf.runId });
}

/**
 * Rollouts from the visibility store, newest first (eventually consistent: a start shows up shortly
 * after).
 *
 * @param opts - filter by state or agent, only running ones, at most `limit` (default 100).
 * @returns one summary per execution: versions, state and share as last published, Temporal status.
 */
export async function listRollouts(client: Client, opts: ListOptions = {}): Promise<RolloutSummary[]> {
  const out: RolloutSummary[] = [];
  const limit = opts.limit ?? 100;
  try {
    for await (const wf of client.workflow.list({ query: listQuery(opts), pageSize: Math.min(limit, 100) })) {
      out.push(summarize(wf));
      if (out.length >= limit) break;
    }
  } catch (err) {
    throw mapServiceError(err, 'list rollouts');
  }
  return out;
}

export { listedState } from './list-parts';

export { isFinal } from '../../workflows/messages';

/** The rollout will not change any more: it ended by itself, or its execution was closed. */
export function hasEnded(s: RolloutStatus): boolean {
  return isFinal(s.state) || s.execution !== undefined;
}

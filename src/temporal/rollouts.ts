// The client side of a rollout: start, status, commands and listing, shared by the CLI, the demo
// and tests. Every failure a user can cause comes back as a RolloutError saying how to fix it.
import {
  ServiceError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import {
  NamespaceNotFoundError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
} from '@temporalio/common';
import { z } from 'zod';
import { formatDuration } from '../plan/duration';
import { problemsFromZod, PlanError, type ResolvedPlan } from '../plan';
import {
  AbortInputSchema,
  abortUpdate,
  PauseInputSchema,
  pauseUpdate,
  PromoteInputSchema,
  promoteUpdate,
  ResumeInputSchema,
  resumeUpdate,
  SA,
  statusQuery,
  TASK_QUEUE,
  WORKFLOW_TYPE,
  workflowIdFor,
  type RolloutResult,
  type RolloutState,
  type RolloutStatus,
} from '../../workflows/messages';
import { AlreadyRunningError, CommandRefusedError, RolloutError, UnknownAgentError } from './errors';

/** How long a query may wait for a worker before we tell the user none is answering. */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
/** Updates wait for their effect (promote: the new split written), so they get longer. */
export const DEFAULT_UPDATE_TIMEOUT_MS = 20_000;

const NO_WORKER_FIX =
  `  Fix: make sure a worker polls task queue "${TASK_QUEUE}": run \`agent-canary worker\` ` +
  '(or `agent-canary dev`, which runs one).';

export function staticSummary(plan: ResolvedPlan): string {
  const stages = plan.stages
    .map((s) => (s.observeMs > 0 ? `${s.weight}% ${formatDuration(s.observeMs)}` : `${s.weight}%`))
    .join(', ');
  return `${plan.agent}: ${plan.stable} -> ${plan.canary} (${stages})`;
}

export function staticDetails(plan: ResolvedPlan): string {
  const a = plan.analysis;
  return [
    `**${plan.agent}** canary \`${plan.canary}\` against stable \`${plan.stable}\``,
    '',
    '| stage | canary % | observe |',
    '|---|---|---|',
    ...plan.stages.map(
      (s, i) => `| ${i + 1} | ${s.weight} | ${s.observeMs ? formatDuration(s.observeMs) : '-'} |`,
    ),
    '',
    `checks every ${formatDuration(a.intervalMs)}, ${a.judge} judge on ${a.metrics.join(', ')}; ` +
      `rollback after ${a.failureLimit} failed check${a.failureLimit === 1 ? '' : 's'}; deadline ${formatDuration(plan.progressDeadlineMs)}`,
  ].join('\n');
}

function grpcCode(err: unknown): number | undefined {
  const cause = (err as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === 'number' ? cause.code : undefined;
}
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_INVALID_ARGUMENT = 3;

export interface StartOptions {
  /** Overrides the workflow id (tests running in parallel); defaults to workflowIdFor(agent). */
  workflowId?: string;
}

export interface Started {
  workflowId: string;
  runId: string;
  /** Resolves with the workflow's result once the rollout ends. */
  result: () => Promise<RolloutResult>;
}

/** Starts a rollout; refused with AlreadyRunningError while one runs for the same agent. */
export async function startRollout(
  client: Client,
  plan: ResolvedPlan,
  opts: StartOptions = {},
): Promise<Started> {
  const workflowId = opts.workflowId ?? workflowIdFor(plan.agent);
  try {
    const handle = await client.workflow.start(WORKFLOW_TYPE, {
      args: [plan],
      taskQueue: TASK_QUEUE,
      workflowId,
      typedSearchAttributes: [
        { key: SA.agent, value: plan.agent },
        { key: SA.state, value: 'progressing' },
        { key: SA.percent, value: 0 },
        { key: SA.canaryVersion, value: plan.canary },
        { key: SA.stableVersion, value: plan.stable },
      ],
      staticSummary: staticSummary(plan),
      staticDetails: staticDetails(plan),
    });
    return {
      workflowId,
      runId: handle.firstExecutionRunId,
      result: () => handle.result() as Promise<RolloutResult>,
    };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new AlreadyRunningError(plan.agent, workflowId);
    if (grpcCode(err) === GRPC_INVALID_ARGUMENT && /search attribute/i.test(String(errDetail(err)))) {
      throw new RolloutError(
        `the Temporal server does not know agent-canary's search attributes: ${errDetail(err)}.\n` +
          '  Fix: `agent-canary dev` registers them; on your own server run ' +
          '`temporal operator search-attribute create --name CanaryAgent --type Keyword` ' +
          '(and CanaryState Keyword, CanaryPercent Int, CanaryVersion Keyword, StableVersion Keyword).',
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

/** The rollout's live status (query `status`); answered while a worker runs, even after it ended. */
export async function getStatus(
  client: Client,
  agent: string,
  opts: RpcOptions = {},
): Promise<RolloutStatus> {
  const workflowId = opts.workflowId ?? workflowIdFor(agent);
  const handle = client.workflow.getHandle(workflowId);
  try {
    return await withDeadline(client, opts.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS, () =>
      handle.query(statusQuery),
    );
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new UnknownAgentError(agent, workflowId, client.options.namespace);
    if (grpcCode(err) === GRPC_DEADLINE_EXCEEDED) {
      throw new RolloutError(
        `no worker answered the status query for ${workflowId}${await lastKnown(client, workflowId)}.\n${NO_WORKER_FIX}`,
      );
    }
    throw mapServiceError(err, `get the status of ${workflowId}`);
  }
}

/** What visibility still knows when no worker can answer: better than nothing for the operator. */
async function lastKnown(client: Client, workflowId: string): Promise<string> {
  try {
    const d = await withDeadline(client, 3_000, () => client.workflow.getHandle(workflowId).describe());
    const sa = d.typedSearchAttributes;
    return ` (last published: ${sa.get(SA.state) ?? '?'} at ${sa.get(SA.percent) ?? '?'}% canary, workflow ${d.status.name})`;
  } catch {
    return '';
  }
}

export const COMMANDS = ['pause', 'resume', 'promote', 'abort'] as const;
export type Command = (typeof COMMANDS)[number];

const COMMAND_DEFS = {
  pause: { schema: PauseInputSchema, update: pauseUpdate },
  resume: { schema: ResumeInputSchema, update: resumeUpdate },
  promote: { schema: PromoteInputSchema, update: promoteUpdate },
  abort: { schema: AbortInputSchema, update: abortUpdate },
} as const;

export type CommandInput<C extends Command> = z.input<(typeof COMMAND_DEFS)[C]['schema']>;

/** Checks a command's input before anything is sent; CommandInputError names each bad field. */
export function parseCommandInput<C extends Command>(command: C, input: CommandInput<C>) {
  const parsed = COMMAND_DEFS[command].schema.safeParse(input);
  if (!parsed.success) throw new CommandInputError(command, problemsFromZod(parsed.error));
  return parsed.data;
}

/**
 * Sends pause/resume/promote/abort as an Update and returns the status after it. A refusal by the
 * workflow (e.g. promote on a finished rollout) becomes CommandRefusedError; bad input a PlanError-like
 * InputError before anything is sent.
 */
export async function sendCommand<C extends Command>(
  client: Client,
  agent: string,
  command: C,
  input: CommandInput<C>,
  opts: RpcOptions = {},
): Promise<RolloutStatus> {
  const def = COMMAND_DEFS[command];
  const data = parseCommandInput(command, input);
  const workflowId = opts.workflowId ?? workflowIdFor(agent);
  const handle = client.workflow.getHandle(workflowId);
  try {
    return await withDeadline(client, opts.timeoutMs ?? DEFAULT_UPDATE_TIMEOUT_MS, () =>
      handle.executeUpdate(def.update as typeof pauseUpdate, { args: [data] }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const why = err.cause?.message ?? err.message;
      throw new CommandRefusedError(`${command} refused for "${agent}": ${why}`);
    }
    if (err instanceof WorkflowNotFoundError) {
      throw await notFoundOrFinished(client, agent, workflowId, command);
    }
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || grpcCode(err) === GRPC_DEADLINE_EXCEEDED) {
      throw new RolloutError(`no worker took the ${command} command for ${workflowId}.\n${NO_WORKER_FIX}`);
    }
    throw mapServiceError(err, `${command} ${workflowId}`);
  }
}

/** Updates on a closed workflow come back as "not found": tell the two cases apart for the user. */
async function notFoundOrFinished(client: Client, agent: string, workflowId: string, command: string) {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    const state = d.typedSearchAttributes.get(SA.state) ?? d.status.name.toLowerCase();
    return new CommandRefusedError(
      `the rollout for "${agent}" already finished (${state}); there is nothing to ${command}.\n` +
        '  Fix: start a new rollout with `agent-canary start -f plan.yaml`.',
    );
  } catch {
    return new UnknownAgentError(agent, workflowId, client.options.namespace);
  }
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
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function listQuery(opts: ListOptions = {}): string {
  const parts = [`WorkflowType = ${quote(WORKFLOW_TYPE)}`];
  if (opts.agent) parts.push(`${SA.agent.name} = ${quote(opts.agent)}`);
  if (opts.state) parts.push(`${SA.state.name} = ${quote(opts.state)}`);
  if (opts.running) parts.push(`ExecutionStatus = 'Running'`);
  return parts.join(' AND ');
}

function summarize(wf: WorkflowExecutionInfo): RolloutSummary {
  const sa = wf.typedSearchAttributes;
  const state = sa.get(SA.state) as RolloutState | undefined;
  return {
    workflowId: wf.workflowId,
    runId: wf.runId,
    agent: sa.get(SA.agent) ?? wf.workflowId.replace(/^canary-/, ''),
    stable: sa.get(SA.stableVersion) ?? null,
    canary: sa.get(SA.canaryVersion) ?? null,
    state: state ?? null,
    percent: sa.get(SA.percent) ?? null,
    status: wf.status.name,
    startTime: wf.startTime.toISOString(),
    closeTime: wf.closeTime ? wf.closeTime.toISOString() : null,
  };
}

/** Rollouts from the visibility store, newest first (eventually consistent: a start shows up shortly after). */
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

export { isFinal } from '../../workflows/messages';

// `status` through Temporal's HTTP API: the same calls the SDK path makes (describe, the status
// query, for an abnormally closed execution its close event), the same answer (status-parts.ts
// builds both), every answer checked with zod. Whatever this path cannot answer for certain (an
// unexpected status code, an unknown payload encoding, a refused port) is an HttpApiUnusableError,
// and the caller asks the SDK instead, which has the canonical error for it.
import { z } from 'zod';
import type { RolloutStatus } from '../../workflows/messages';
import { UnknownAgentError } from './errors';
import {
  decodePayload,
  errorDetailType,
  httpApiRequest,
  HttpApiTimeoutError,
  HttpApiUnusableError,
  namespacePath,
  READ_TIMEOUT_MS,
  PayloadSchema,
  type HttpApiOptions,
} from './http-api';
import { SA_NAMES, workflowIdFor } from './names';
import {
  ABNORMAL_CLOSE,
  firstDetailPayload,
  noWorkerError,
  readClose,
  statusFromVisibility,
  withExecution,
  type CloseEvent,
  type CloseReading,
  type DescribedExecution,
  type FailureLike,
  type PublishedAttributes,
} from './status-parts';
import { RolloutStatusSchema } from './status-schema';
import { describeZodError } from '../text/zod-problems';

export interface HttpStatusOptions {
  namespace: string;
  workflowId?: string;
  /** As the SDK path's: how long the status query may wait for a worker. */
  timeoutMs: number;
}

/** The server answered the query with an error (e.g. no worker could run it). */
class QueryRefusedError extends HttpApiUnusableError {}

const iso = z
  .string()
  .max(40)
  .refine((s) => !Number.isNaN(Date.parse(s)), 'a date');

const DescribeSchema = z
  .object({
    workflowExecutionInfo: z
      .object({
        execution: z.object({ workflowId: z.string().max(1000) }).loose(),
        status: z.string().regex(/^WORKFLOW_EXECUTION_STATUS_[A-Z_]+$/),
        startTime: iso,
        closeTime: iso.optional(),
        searchAttributes: z
          .object({ indexedFields: z.record(z.string().max(200), PayloadSchema).optional() })
          .loose()
          .optional(),
      })
      .loose(),
  })
  .loose();

const QuerySchema = z
  .object({ queryResult: z.object({ payloads: z.array(PayloadSchema).min(1).max(10) }).loose() })
  .loose();

const FailureSchema: z.ZodType<FailureLike> = z.lazy(() =>
  z
    .object({
      message: z.string().max(100_000).nullish(),
      cause: FailureSchema.nullish(),
    })
    .loose(),
);

const HistorySchema = z
  .object({
    history: z
      .object({
        events: z
          .array(
            z
              .object({
                workflowExecutionFailedEventAttributes: z
                  .object({ failure: FailureSchema.nullish() })
                  .loose()
                  .nullish(),
                workflowExecutionTerminatedEventAttributes: z
                  .object({ reason: z.string().max(100_000).nullish() })
                  .loose()
                  .nullish(),
                workflowExecutionCanceledEventAttributes: z.object({}).loose().nullish(),
                workflowExecutionTimedOutEventAttributes: z.object({}).loose().nullish(),
              })
              .loose(),
          )
          .max(1),
      })
      .loose()
      .optional(),
  })
  .loose();

/** The SDK's name for an execution status (WORKFLOW_EXECUTION_STATUS_CANCELED -> CANCELLED). */
export function statusName(apiStatus: string): string {
  const name = apiStatus.replace(/^WORKFLOW_EXECUTION_STATUS_/, '');
  return name === 'CANCELED' ? 'CANCELLED' : name;
}

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const r = schema.safeParse(body);
  if (!r.success) throw new HttpApiUnusableError(`${what}: ${describeZodError(r.error)}`);
  return r.data;
}

/** The search attributes a rollout publishes, from visibility's payloads. */
export function attributesOf(
  fields: Record<string, z.infer<typeof PayloadSchema>> | undefined,
): PublishedAttributes {
  const read = (name: string): unknown => (fields?.[name] ? decodePayload(fields[name]) : undefined);
  const str = (name: string) => {
    const v = read(name);
    return typeof v === 'string' ? v : undefined;
  };
  const percent = read(SA_NAMES.percent);
  return {
    agent: str(SA_NAMES.agent),
    state: str(SA_NAMES.state),
    percent: typeof percent === 'number' ? percent : undefined,
    canaryVersion: str(SA_NAMES.canaryVersion),
    stableVersion: str(SA_NAMES.stableVersion),
  };
}

async function describe(api: HttpApiOptions, agent: string, workflowId: string, o: HttpStatusOptions) {
  const a = await httpApiRequest(
    api,
    'GET',
    `${namespacePath(o.namespace)}/workflows/${encodeURIComponent(workflowId)}`,
    { timeoutMs: Math.min(o.timeoutMs, READ_TIMEOUT_MS) },
  ).catch((err: unknown) => {
    // The SDK path reports a silent server its own way.
    throw err instanceof HttpApiTimeoutError ? new HttpApiUnusableError(err.message) : err;
  });
  if (a.status === 404 && errorDetailType(a.body) === 'NotFoundFailure') {
    throw new UnknownAgentError(agent, workflowId, o.namespace);
  }
  if (a.status !== 200) throw new HttpApiUnusableError(`describe: HTTP ${a.status}`);
  const info = parse(DescribeSchema, a.body, 'describe').workflowExecutionInfo;
  const d: DescribedExecution = {
    workflowId: info.execution.workflowId,
    status: statusName(info.status),
    startTime: new Date(info.startTime),
    closeTime: info.closeTime ? new Date(info.closeTime) : undefined,
    attributes: attributesOf(info.searchAttributes?.indexedFields),
  };
  return d;
}

async function query(api: HttpApiOptions, workflowId: string, namespace: string, timeoutMs: number) {
  const a = await httpApiRequest(
    api,
    'POST',
    `${namespacePath(namespace)}/workflows/${encodeURIComponent(workflowId)}/query/status`,
    { body: {}, timeoutMs },
  );
  if (a.status !== 200) throw new QueryRefusedError(`query: HTTP ${a.status}`);
  const payload = parse(QuerySchema, a.body, 'query').queryResult.payloads[0];
  return parse(RolloutStatusSchema, decodePayload(payload), 'status') as RolloutStatus;
}

async function closeOf(api: HttpApiOptions, workflowId: string, namespace: string): Promise<CloseReading> {
  const a = await httpApiRequest(
    api,
    'GET',
    `${namespacePath(namespace)}/workflows/${encodeURIComponent(workflowId)}/history` +
      '?historyEventFilterType=HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT&skipArchival=true',
    { timeoutMs: READ_TIMEOUT_MS },
  );
  if (a.status !== 200) throw new HttpApiUnusableError(`history: HTTP ${a.status}`);
  const ev = (parse(HistorySchema, a.body, 'history').history?.events ?? [])[0] as CloseEvent | undefined;
  const payload = firstDetailPayload(ev);
  return readClose(ev, payload ? decodePayload(parse(PayloadSchema, payload, 'failure detail')) : undefined);
}

/**
 * The rollout's status as getStatus (rollouts.ts) returns it, over the HTTP API.
 * @throws UnknownAgentError, NoWorkerError as getStatus; HttpApiUnusableError: ask the SDK instead.
 */
export async function getStatusOverHttp(
  api: HttpApiOptions,
  agent: string,
  o: HttpStatusOptions,
): Promise<RolloutStatus> {
  const workflowId = o.workflowId ?? workflowIdFor(agent);
  const d = await describe(api, agent, workflowId, o);
  if (ABNORMAL_CLOSE.has(d.status)) {
    let base: RolloutStatus;
    try {
      base = await query(api, workflowId, o.namespace, Math.min(o.timeoutMs, 3_000));
    } catch (err) {
      // As the SDK path: any failure of the query leaves what visibility knows. An answer we cannot
      // read is not a failure of the query: the SDK reads it instead.
      if (!(err instanceof HttpApiTimeoutError || err instanceof QueryRefusedError)) throw err;
      base = statusFromVisibility(d, agent);
    }
    return withExecution(base, d, await closeOf(api, workflowId, o.namespace));
  }
  try {
    return await query(api, workflowId, o.namespace, o.timeoutMs);
  } catch (err) {
    if (err instanceof HttpApiTimeoutError) throw noWorkerError(d);
    throw err;
  }
}

// `list` through Temporal's HTTP API: the visibility query listRollouts (rollouts.ts) sends, page by
// page, each row built by the same summaryOf, every answer checked with zod. Anything this path
// cannot read for certain is an HttpApiUnusableError: the caller asks the SDK instead.
import { z } from 'zod';
import {
  httpApiRequest,
  HttpApiTimeoutError,
  HttpApiUnusableError,
  namespacePath,
  PayloadSchema,
  READ_TIMEOUT_MS,
  type HttpApiOptions,
} from './http-api';
import { attributesOf, statusName } from './http-status';
import { listQuery, summaryOf, type ListOptions, type RolloutSummary } from './list-parts';
import { describeZodError } from '../text/zod-problems';

const iso = z
  .string()
  .max(40)
  .refine((s) => !Number.isNaN(Date.parse(s)), 'a date');

const PageSchema = z
  .object({
    executions: z
      .array(
        z
          .object({
            execution: z.object({ workflowId: z.string().max(1000), runId: z.string().max(200) }).loose(),
            status: z.string().regex(/^WORKFLOW_EXECUTION_STATUS_[A-Z_]+$/),
            startTime: iso,
            closeTime: iso.optional(),
            searchAttributes: z
              .object({ indexedFields: z.record(z.string().max(200), PayloadSchema).optional() })
              .loose()
              .optional(),
          })
          .loose(),
      )
      .max(1000)
      .optional(),
    nextPageToken: z
      .string()
      .max(10_000)
      .regex(/^[A-Za-z0-9+/]*={0,2}$/)
      .optional(),
  })
  // Strict at the top: an empty list is `{}`, so an unrelated JSON answer must not pass for one (a
  // field a newer server adds here only costs the SDK's slower path).
  .strict();

/** Rollouts from visibility as listRollouts returns them, over the HTTP API. */
export async function listOverHttp(
  api: HttpApiOptions,
  namespace: string,
  opts: ListOptions = {},
): Promise<RolloutSummary[]> {
  const out: RolloutSummary[] = [];
  const limit = opts.limit ?? 100;
  const query = listQuery(opts);
  let token: string | undefined;
  do {
    const params = new URLSearchParams({ query, pageSize: String(Math.min(limit, 100)) });
    if (token) params.set('nextPageToken', token);
    const a = await httpApiRequest(api, 'GET', `${namespacePath(namespace)}/workflows?${params}`, {
      timeoutMs: READ_TIMEOUT_MS,
    }).catch((err: unknown) => {
      throw err instanceof HttpApiTimeoutError ? new HttpApiUnusableError(err.message) : err;
    });
    if (a.status !== 200) throw new HttpApiUnusableError(`list: HTTP ${a.status}`);
    const r = PageSchema.safeParse(a.body);
    if (!r.success) throw new HttpApiUnusableError(`list: ${describeZodError(r.error)}`);
    for (const wf of r.data.executions ?? []) {
      out.push(
        summaryOf({
          workflowId: wf.execution.workflowId,
          runId: wf.execution.runId,
          status: statusName(wf.status),
          startTime: new Date(wf.startTime),
          closeTime: wf.closeTime ? new Date(wf.closeTime) : undefined,
          attributes: attributesOf(wf.searchAttributes?.indexedFields),
        }),
      );
      if (out.length >= limit) return out;
    }
    token = r.data.nextPageToken || undefined;
  } while (token);
  return out;
}

// Verdicts on requests already served: POST /v1/feedback (by request id) and POST /v1/logs (OTLP
// `gen_ai.evaluation.result` events). Both feed the judge, so both need the ingest credential.
import { BadRequest, readJson, sendError, sendJson } from '../http-util';
import { ExportLogsSchema, parseEvaluations } from '../evaluator-otlp';
import type { Route, RouteHandler } from '../route-table';
import { FeedbackSchema, zodReason } from './schemas';
import { refuseIngest, refuseMethod, type GatewayContext } from './context';

const feedback =
  (ctx: GatewayContext): RouteHandler =>
  async (r) => {
    if (refuseMethod(r, 'POST')) return;
    if (refuseIngest(ctx, r.req, r.res)) return;
    const parsed = FeedbackSchema.safeParse(await readJson(r.req));
    if (!parsed.success) throw new BadRequest(400, zodReason(parsed.error));
    const f = parsed.data;
    const ttl = ctx.config.feedback.ttlMs;
    const joined = ctx.shared
      ? await ctx.shared.join(f.requestId, f.taskSuccess, f.qualityScore, Date.now(), ttl)
      : ctx.pending.join(f.requestId, f.taskSuccess, f.qualityScore, Date.now());
    ctx.recordJoined(joined, f);
    if (!joined.ok) {
      if (joined.status === 404) ctx.counts.feedbackUnmatched++;
      return sendError(r.res, joined.status, joined.reason);
    }
    return sendJson(r.res, 200, { requestId: f.requestId, agent: joined.agent, version: joined.version });
  };

/**
 * OTLP/HTTP JSON logs: `gen_ai.evaluation.result` events joined to their requests as outcomes.
 * The answer is OTLP's: 200 with partialSuccess naming what was rejected and why.
 */
const logs =
  (ctx: GatewayContext): RouteHandler =>
  async (r) => {
    if (refuseMethod(r, 'POST')) return;
    if (refuseIngest(ctx, r.req, r.res)) return;
    const type = r.req.headers['content-type'] ?? '';
    if (!type.startsWith('application/json')) {
      throw new BadRequest(415, 'send OTLP/HTTP JSON (content-type: application/json); protobuf is not read');
    }
    const parsed = ExportLogsSchema.safeParse(await readJson(r.req));
    if (!parsed.success) throw new BadRequest(400, zodReason(parsed.error));
    const { outcomes, rejected } = parseEvaluations(parsed.data, ctx.config.evaluationNames ?? {});
    for (const o of outcomes) {
      const joined = await ctx.join(o.requestId, o, 'feedback');
      if (!joined.ok) {
        if (joined.status === 404) ctx.counts.feedbackUnmatched++;
        rejected.push(`${o.name}: ${joined.reason}`);
      }
    }
    return sendJson(
      r.res,
      200,
      rejected.length > 0
        ? {
            partialSuccess: {
              rejectedLogRecords: rejected.length,
              errorMessage: [...new Set(rejected)].slice(0, 5).join('; '),
            },
          }
        : {},
    );
  };

export function ingestRoutes(ctx: GatewayContext): Route[] {
  return [
    { path: '/v1/feedback', handler: feedback(ctx) },
    { path: '/v1/logs', handler: logs(ctx) },
  ];
}

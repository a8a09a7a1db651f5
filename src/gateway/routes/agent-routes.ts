// The routes under /v1/agents/:agent that callers use: the proxy to the agent's versions, the
// version a key is routed to, and outcomes reported for requests the gateway did not proxy.
import { z } from 'zod';
import { printable } from '../../text/sanitize';
import { BadRequest, queryParams, readJson, sendError, sendJson } from '../http-util';
import { proxy } from '../proxy';
import { chooseVersion } from '../routing';
import type { Route, RouteHandler } from '../route-table';
import { OutcomeListSchema, OutcomeSchema, zodReason } from './schemas';
import {
  forAgent,
  refuseIngest,
  refuseMethod,
  shown,
  type AgentHandler,
  type GatewayContext,
} from './context';

/** Any method, any path below /invoke: streamed to the version the split picks. */
const invoke =
  (ctx: GatewayContext): AgentHandler =>
  (r, rt) => {
    const tail = r.params['*'];
    return proxy(ctx.proxy, rt, tail === undefined ? '' : `/${tail}`, r.query, r.req, r.res);
  };

/** GET: which version a session key is routed to now. */
const route =
  (ctx: GatewayContext): AgentHandler =>
  (r, rt) => {
    if (refuseMethod(r, 'GET')) return;
    const key = queryParams(r.query).get('key') || undefined;
    const agent = rt.config.name;
    return sendJson(r.res, 200, { agent, version: chooseVersion(ctx.splits.peek(agent)!, key, Date.now()) });
  };

/** POST: outcomes (and latencies) of requests served without the proxy, one or a list. */
const outcomes =
  (ctx: GatewayContext): AgentHandler =>
  async (r, rt) => {
    if (refuseMethod(r, 'POST')) return;
    if (refuseIngest(ctx, r.req, r.res)) return;
    const body = await readJson(r.req);
    const parsed = Array.isArray(body) ? OutcomeListSchema.safeParse(body) : OutcomeSchema.safeParse(body);
    if (!parsed.success) throw new BadRequest(400, zodReason(parsed.error));
    const items: z.infer<typeof OutcomeSchema>[] = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
    const name = rt.config.name;
    const unknown = items.findIndex((o) => !rt.upstreams.has(o.version));
    if (unknown >= 0) {
      const field = Array.isArray(body) ? `${unknown}.version` : 'version';
      throw new BadRequest(400, `${field}: unknown version ${shown(items[unknown].version)} for ${name}`);
    }
    const now = Date.now();
    for (const o of items) {
      const series = rt.upstreams.get(o.version)!.series;
      series.recordRequest(o.latencyMs, o.error, now);
      series.recordOutcome(o, now);
      // Reported without a session: a conversation of one.
      series.conversations.request(undefined, o.latencyMs, o.error, now);
      series.conversations.outcome(undefined, o, now);
      // An id already pending keeps its version and state (first one wins).
      if (o.requestId && ctx.shared) {
        ctx.shared.remember(
          o.requestId,
          name,
          o.version,
          now,
          o.taskSuccess !== undefined,
          o.qualityScore !== undefined,
        );
      } else if (o.requestId && ctx.pending.add(o.requestId, series, now)) {
        ctx.pending.markReported(o.requestId, o.taskSuccess !== undefined, o.qualityScore !== undefined);
      }
    }
    return sendJson(r.res, 200, { accepted: items.length });
  };

/** Anything else under /v1/agents/: the agent is checked first, as on the routes above. */
const elsewhere =
  (ctx: GatewayContext): RouteHandler =>
  (r) =>
    forAgent(ctx, () =>
      sendError(
        r.res,
        404,
        `no route ${r.req.method} ${printable(r.path, 100)} (use /invoke, /route or /outcomes)`,
      ),
    )({ ...r, params: { agent: (r.params['*'] ?? '').split('/')[0] } });

export function agentRoutes(ctx: GatewayContext): Route[] {
  return [
    { path: '/v1/agents/:agent/invoke', handler: forAgent(ctx, invoke(ctx)) },
    { path: '/v1/agents/:agent/invoke/*', handler: forAgent(ctx, invoke(ctx)) },
    { path: '/v1/agents/:agent/route', handler: forAgent(ctx, route(ctx)) },
    { path: '/v1/agents/:agent/outcomes', handler: forAgent(ctx, outcomes(ctx)) },
    { path: '/v1/agents/*', handler: elsewhere(ctx) },
  ];
}

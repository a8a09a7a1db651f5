// What operators and Prometheus read without a token: /metrics and /healthz.
import { sendJson } from '../http-util';
import { renderPrometheus } from '../metrics-store';
import { canaryActive } from '../routing';
import type { Route, RouteHandler } from '../route-table';
import { renderShadowPrometheus } from '../shadow';
import type { GatewayContext } from './context';

const metrics =
  (ctx: GatewayContext): RouteHandler =>
  ({ res }) => {
    const now = Date.now();
    const all = [...ctx.agents.values()].flatMap((a) => [...a.upstreams.values()].map((u) => u.series));
    const text = renderPrometheus(
      all,
      ctx.splits.all().map((s) => ({
        agent: s.agent,
        stable: s.stable,
        canary: canaryActive(s, now) ? s.canary : null,
        weight: canaryActive(s, now) ? s.canaryWeight : 0,
      })),
      { feedbackUnmatched: ctx.counts.feedbackUnmatched },
    );
    const mirrors = [...ctx.agents.values()].flatMap((a) =>
      a.shadow ? [{ agent: a.config.name, mirror: a.shadow }] : [],
    );
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(mirrors.length > 0 ? text + renderShadowPrometheus(mirrors) : text);
  };

const healthz =
  (ctx: GatewayContext): RouteHandler =>
  ({ res }) =>
    sendJson(res, 200, {
      ok: true,
      agents: ctx.agents.size,
      pendingFeedback: ctx.shared ? ctx.shared.queuedRequestCount : ctx.pending.size,
      ...(ctx.replication ? { replica: ctx.replication.status() } : {}),
    });

export function statusRoutes(ctx: GatewayContext): Route[] {
  return [
    { path: '/metrics', methods: ['GET'], handler: metrics(ctx) },
    { path: '/healthz', handler: healthz(ctx) },
  ];
}

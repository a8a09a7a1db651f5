// The admin API under /v1/admin/agents/:agent (admin token): the split the judge sets, the metrics
// it reads, and the versions preflight checks.
import net from 'node:net';
import type { VersionMetrics } from '../../metrics/types';
import type { AgentEvaluator } from '../evaluator';
import { BadRequest, queryParams, readJson, sendError, sendJson } from '../http-util';
import { metricsFromRecords, type SecondRecord } from '../metrics-store';
import type { Route, RouteHandler } from '../route-table';
import { StaleSplit } from '../split-store';
import { forAdmin, refuseMethod, type AgentHandler, type GatewayContext } from './context';

/** GET the split in force; PUT a new one (confirmed by every live replica when there are several). */
const split =
  (ctx: GatewayContext): AgentHandler =>
  async (r, rt) => {
    if (refuseMethod(r, 'GET', 'PUT')) return;
    const { splits, replication } = ctx;
    const agent = rt.config.name;
    const res = r.res;
    if (r.req.method === 'GET') return sendJson(res, 200, splits.get(agent, Date.now()));
    const body = await readJson(r.req);
    let applied;
    const before = splits.get(agent, Date.now());
    try {
      applied = await splits.set(agent, body, Date.now());
    } catch (err) {
      if (!(err instanceof StaleSplit)) throw err;
      // Another replica holds a newer decision: it stands, as on a single gateway.
      splits.applyRemote(agent, err.current);
      return sendJson(res, 200, {
        ...err.current,
        note: 'ignored a write older than the decision in place',
      });
    }
    ctx.log(`${agent}: split ${applied.stable}/${applied.canary ?? '-'} ${applied.canaryWeight}%`);
    if (
      before.stable !== applied.stable ||
      before.canary !== applied.canary ||
      before.canaryWeight !== applied.canaryWeight
    ) {
      for (const u of rt.upstreams.values()) u.series.conversations.newStage();
    }
    if (!replication) return sendJson(res, 200, applied);
    // Confirmed only when every live replica routes by it (what a rollback must be sure of).
    const confirmed = await replication.confirm();
    if (confirmed.lagging.length > 0) {
      return sendJson(res, 503, {
        error:
          `split stored, but replica(s) ${confirmed.lagging.join(', ')} have not applied it within ` +
          `${confirmed.waitedMs} ms; they apply it when they catch up, or drop out after ` +
          `${confirmed.liveMs} ms without a heartbeat`,
        replicas: { live: confirmed.live, confirmed: confirmed.live - confirmed.lagging.length },
      });
    }
    return sendJson(res, 200, {
      ...applied,
      replicas: { live: confirmed.live, confirmed: confirmed.live },
    });
  };

/** GET each version's metrics over [since, until) (the last minute by default). */
const metrics =
  (ctx: GatewayContext): AgentHandler =>
  async (r, rt) => {
    if (refuseMethod(r, 'GET')) return;
    const agent = rt.config.name;
    const q = queryParams(r.query);
    const now = Date.now();
    const since = q.has('since') ? Number(q.get('since')) : now - 60_000;
    const until = q.has('until') ? Number(q.get('until')) : now + 1;
    if (!Number.isFinite(since) || !Number.isFinite(until)) {
      throw new BadRequest(400, 'since and until must be epoch milliseconds');
    }
    if (since >= until) throw new BadRequest(400, `since (${since}) must be before until (${until})`);
    const versions: Record<string, VersionMetrics> = {};
    if (ctx.shared) {
      // The sum over replicas of their finished seconds (a second counts when it starts inside).
      const first = Math.floor(since / 1000);
      const last = Math.min(Math.ceil(until / 1000) - 1, Math.floor(now / 1000));
      const byVersion = new Map<string, SecondRecord[]>();
      for (const rec of await ctx.shared.seconds(agent, first, last)) {
        const list = byVersion.get(rec.version) ?? [];
        list.push(rec);
        byVersion.set(rec.version, list);
      }
      for (const v of rt.upstreams.keys()) versions[v] = metricsFromRecords(v, byVersion.get(v) ?? []);
    } else {
      for (const [v, up] of rt.upstreams) versions[v] = up.series.query(since, until, now);
    }
    // Test-routed traffic, counted apart from the versions above (this replica's own).
    const testRoutes: Record<string, unknown> = {};
    for (const [v, up] of rt.upstreams) {
      const m = up.testSeries?.query(since, until, now);
      if (m && m.requests > 0) testRoutes[v] = m;
    }
    return sendJson(r.res, 200, {
      agent,
      since,
      until,
      dataSince: ctx.metricsSince,
      // One gateway adds a late outcome to its request's second; replicas count it where it arrives.
      outcomesAt: ctx.shared ? 'arrival' : 'request',
      versions,
      testRoutes,
      ...(rt.evaluator
        ? { evaluator: evaluatorAnswer(rt.evaluator, since, until, now, q.get('canary')) }
        : {}),
      // This replica's mirrored copies and judged pairs, apart from served traffic.
      ...(rt.shadow ? { shadow: rt.shadow.answer(q.get('canary'), since, until, now) } : {}),
    });
  };

/**
 * GET, for preflight: which versions exist and whether their upstreams accept a connection (a TCP
 * connect only: no request reaches the agent).
 */
const versions =
  (ctx: GatewayContext): AgentHandler =>
  async (r, rt) => {
    if (refuseMethod(r, 'GET')) return;
    const list = await Promise.all(
      [...rt.config.versions].map(async ([name, url]) => ({
        name,
        upstream: url.origin,
        ...(await connects(url)),
        priced: rt.config.prices?.has(name) ?? false,
      })),
    );
    // For the preflight of metrics read from the answers (src/metrics/signal-preflight.ts).
    const reading = { usage: ctx.config.usage !== false, modelPrices: ctx.config.modelPrices?.size ?? 0 };
    // For the preflight of a shadow stage: the agent must allow mirroring and have an evaluator.
    const shadow = {
      shadow: rt.config.shadowAllowed ? 'allowed' : 'not allowed',
      evaluator: !!rt.evaluator,
    };
    return sendJson(r.res, 200, { agent: rt.config.name, versions: list, ...reading, ...shadow });
  };

/** Anything else under /v1/admin/agents/: the token and the agent are checked first. */
const elsewhere =
  (ctx: GatewayContext): RouteHandler =>
  (r) => {
    const [agent, ...action] = (r.params['*'] ?? '').split('/');
    return forAdmin(ctx, () =>
      sendError(r.res, 404, `no admin resource "${action.join('/')}" (use split, metrics or versions)`),
    )({ ...r, params: { agent } });
  };

export function adminRoutes(ctx: GatewayContext): Route[] {
  return [
    { path: '/v1/admin/agents/:agent/split', handler: forAdmin(ctx, split(ctx)) },
    { path: '/v1/admin/agents/:agent/metrics', handler: forAdmin(ctx, metrics(ctx)) },
    { path: '/v1/admin/agents/:agent/versions', handler: forAdmin(ctx, versions(ctx)) },
    { path: '/v1/admin/agents/*', handler: elsewhere(ctx) },
  ];
}

/** The evaluator's state and its spend over the window, beside the metrics the judge reads. */
function evaluatorAnswer(
  ev: AgentEvaluator,
  since: number,
  until: number,
  now: number,
  canary: string | null,
) {
  const status = ev.status(now);
  const rollout = canary ? ev.rolloutSpend(canary) : undefined;
  return {
    state: status.state,
    ...(status.reason ? { reason: status.reason } : {}),
    unavailable: ev.unavailable(now) !== undefined,
    sample: status.sample,
    counts: status.counts,
    tokensToday: status.tokensToday,
    maxTokensPerDay: status.maxTokensPerDay,
    spend: ev.spendBetween(since, until),
    ...(rollout ? { rollout } : {}),
  };
}

/** Whether a TCP connection to the URL's host and port opens within 2 s. */
function connects(url: URL): Promise<{ answers: boolean; detail?: string }> {
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  return new Promise((resolve) => {
    const socket = net.connect({ host: url.hostname, port });
    const done = (answers: boolean, detail?: string) => {
      socket.destroy();
      resolve(detail ? { answers, detail } : { answers });
    };
    socket.setTimeout(2_000, () => done(false, 'no connection within 2 s'));
    socket.once('connect', () => done(true));
    socket.once('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
  });
}

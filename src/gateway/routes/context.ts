// What the gateway's route handlers share: the configuration, the agents and their series, the
// split table, the requests waiting for feedback, and the checks every ingest or admin route makes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig } from '../config';
import { sendError, sendJson, type tokenChecker } from '../http-util';
import type { JoinResult, PendingRequests } from '../pending';
import type { AgentRuntime, ProxyContext } from '../proxy';
import type { Replication } from '../replication';
import type { SharedState } from '../shared-state';
import type { SplitTable } from '../splits';
import type { VersionSeries } from '../metrics-store';
import { printable } from '../../text/sanitize';
import { decodeSegment, type RouteHandler, type RouteRequest } from '../route-table';

export interface Outcome {
  taskSuccess?: boolean;
  qualityScore?: number;
}

export interface GatewayContext {
  config: GatewayConfig;
  agents: Map<string, AgentRuntime>;
  /** Each version's series, by `agent\0version`. */
  series: Map<string, VersionSeries>;
  splits: SplitTable;
  pending: PendingRequests;
  shared?: SharedState;
  replication?: Replication;
  log: (line: string) => void;
  /** Where the judge's metrics begin (this start, without a journal). */
  metricsSince: number;
  /** The one context of every proxied request. */
  proxy: ProxyContext;
  checkAdmin: ReturnType<typeof tokenChecker>;
  /** undefined: ingest is open (`dev` and `demo`). */
  checkIngest?: ReturnType<typeof tokenChecker>;
  /** Feedback naming a request nobody knows, for /metrics. */
  counts: { feedbackUnmatched: number };
  /** Joins a verdict to its request, and counts it where the request was served. */
  join(requestId: string, o: Outcome, source: 'feedback' | 'evaluator'): Promise<JoinResult>;
  /** Counts an outcome another replica's request was joined to. */
  recordJoined(joined: JoinResult, o: Outcome): void;
}

/** Names from a request echoed in an error: short and printable. */
export function shown(name: string): string {
  return JSON.stringify(printable(name, 100));
}

/** 401 unless the ingest credential is given (or ingest is open); true when answered. */
export function refuseIngest(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse): boolean {
  if (!ctx.checkIngest) return false;
  const auth = ctx.checkIngest(req.headers.authorization);
  if (auth === 'ok') return false;
  sendJson(
    res,
    401,
    {
      error:
        auth === 'missing'
          ? 'outcomes and feedback need "Authorization: Bearer <ingest token>"'
          : 'wrong ingest token',
    },
    { 'www-authenticate': 'Bearer' },
  );
  return true;
}

/** 405 naming the methods the route takes, unless the request uses one of them; true when answered. */
export function refuseMethod(r: RouteRequest, ...methods: string[]): boolean {
  if (methods.includes(r.req.method ?? '')) return false;
  sendError(r.res, 405, `use ${methods.join(' or ')}`);
  return true;
}

export type AgentHandler = (r: RouteRequest, rt: AgentRuntime) => Promise<void> | void;

/** A route under /v1/agents/:agent: unknown agents are refused without listing the configured ones. */
export function forAgent(ctx: GatewayContext, handler: AgentHandler): RouteHandler {
  return (r) => {
    const name = decodeSegment(r.params.agent ?? '');
    const rt = ctx.agents.get(name);
    if (!rt) return sendError(r.res, 404, `unknown agent ${shown(name)}`);
    return handler(r, rt);
  };
}

/** A route under /v1/admin/agents/:agent: the admin token first, then the agent (named, with the list). */
export function forAdmin(ctx: GatewayContext, handler: AgentHandler): RouteHandler {
  return (r) => {
    const auth = ctx.checkAdmin(r.req.headers.authorization);
    if (auth !== 'ok') {
      return sendJson(
        r.res,
        401,
        {
          error: auth === 'missing' ? 'admin API needs "Authorization: Bearer <token>"' : 'wrong admin token',
        },
        { 'www-authenticate': 'Bearer' },
      );
    }
    const name = decodeSegment(r.params.agent ?? '');
    const rt = ctx.agents.get(name);
    if (!rt) {
      return sendError(
        r.res,
        404,
        `unknown agent ${shown(name)} (configured: ${[...ctx.agents.keys()].join(', ')})`,
      );
    }
    return handler(r, rt);
  };
}

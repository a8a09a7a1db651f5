// The request path: pick a version, stream the request to its upstream and the answer back, record
// latency and errors. Bodies are piped, never buffered, so Server-Sent Events pass through as sent.
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import type { AgentConfig } from './config';
import type { VersionSeries } from './metrics-store';
import type { PendingRequests } from './pending';
import { chooseVersion } from './routing';
import type { SplitTable } from './splits';

export interface Upstream {
  version: string;
  request: typeof http.request;
  hostname: string;
  port: number;
  basePath: string;
  host: string;
  agent: http.Agent;
  series: VersionSeries;
}

export interface AgentRuntime {
  config: AgentConfig;
  upstreams: Map<string, Upstream>;
}

export function makeUpstream(version: string, url: URL, series: VersionSeries): Upstream {
  const secure = url.protocol === 'https:';
  const options = { keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' as const };
  return {
    version,
    request: secure ? https.request : http.request,
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : secure ? 443 : 80,
    basePath: url.pathname.replace(/\/+$/, ''),
    host: url.host,
    agent: secure ? new https.Agent(options) : new http.Agent(options),
    series,
  };
}

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are not forwarded.
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function forwardHeaders(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in h) {
    const v = h[k];
    if (v !== undefined && !HOP.has(k)) out[k] = v;
  }
  return out;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const bootId = Math.random().toString(36).slice(2, 8);
let counter = 0;

/** Cheap unique ids: boot prefix + counter (no crypto per request). */
function nextRequestId(): string {
  return `${bootId}-${(++counter).toString(36)}`;
}

export interface ProxyContext {
  splits: SplitTable;
  pending: PendingRequests;
}

export function proxy(
  ctx: ProxyContext,
  rt: AgentRuntime,
  subpath: string,
  query: string,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const started = performance.now();
  const now = Date.now();
  const sessionHeader = req.headers['x-session-id'];
  const key = typeof sessionHeader === 'string' && sessionHeader !== '' ? sessionHeader : undefined;
  const version = chooseVersion(ctx.splits.peek(rt.config.name)!, key, now);
  const up = rt.upstreams.get(version)!;
  const given = req.headers['x-request-id'];
  const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : nextRequestId();
  ctx.pending.add(requestId, up.series, now);

  const headers = forwardHeaders(req.headers);
  headers.host = up.host;
  headers[rt.config.versionHeader] = version;
  headers['x-request-id'] = requestId;

  let recorded = false;
  const record = (error: boolean) => {
    if (recorded) return;
    recorded = true;
    up.series.recordRequest(performance.now() - started, error, Date.now());
  };

  const upReq = up.request({
    hostname: up.hostname,
    port: up.port,
    method: req.method,
    path: up.basePath + subpath + query,
    headers,
    agent: up.agent,
  });
  upReq.setTimeout(rt.config.timeoutMs, () => {
    upReq.destroy(new Error(`no answer within ${rt.config.timeoutMs} ms`));
  });

  upReq.on('response', (upRes) => {
    const status = upRes.statusCode ?? 502;
    const out = forwardHeaders(upRes.headers);
    out['x-agent-version'] = version;
    out['x-request-id'] = requestId;
    res.writeHead(status, out);
    // Streams start now: the client must see the headers before the first event arrives.
    if (upRes.headers['content-type']?.startsWith('text/event-stream')) res.flushHeaders();
    upRes.pipe(res);
    upRes.on('end', () => record(status >= 500));
    upRes.on('error', () => {
      record(true);
      res.destroy();
    });
  });

  upReq.on('error', (err) => {
    record(true);
    if (!res.headersSent) {
      const body = JSON.stringify({
        error: `upstream for ${rt.config.name} version ${version} failed: ${err.message}`,
        agent: rt.config.name,
        version,
        requestId,
      });
      res.writeHead(502, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-agent-version': version,
        'x-request-id': requestId,
      });
      res.end(body);
    } else {
      res.destroy();
    }
  });

  // The client hung up before the answer ended: stop the upstream work too. Counted as a request
  // without latency and not as an error: the version did nothing wrong.
  res.on('close', () => {
    if (res.writableFinished) return;
    if (!recorded) {
      recorded = true;
      up.series.recordRequest(undefined, false, Date.now());
    }
    upReq.destroy();
  });

  req.pipe(upReq);
}

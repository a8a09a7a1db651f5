// Helpers for the gateway tests: tiny upstream servers and a gateway on loopback.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type GatewayOptions, type RunningGateway } from '../src/gateway';

export const TOKEN = 'test-admin-token';

export interface Upstream {
  url: string;
  requests: number;
  close(): Promise<void>;
}

/** An upstream answering JSON {version, path, headers}; `handler` overrides the answer. */
export async function startUpstream(
  version: string,
  handler?: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Upstream> {
  const up: Upstream = { url: '', requests: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    up.requests++;
    if (handler) return handler(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        version,
        method: req.method,
        path: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  up.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  up.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return up;
}

export function twoVersionConfig(v1: Upstream, v2: Upstream, extra: Record<string, unknown> = {}) {
  return {
    agents: {
      bot: { stable: 'v1', versions: { v1: v1.url, v2: v2.url } },
    },
    ...extra,
  };
}

export function gateway(options: Partial<GatewayOptions> & { config: unknown }): Promise<RunningGateway> {
  // Open ingest unless a test asks for a token: the suites here are about routing and joining;
  // test/security-gateway.test.ts covers the credential.
  return startGateway({ adminToken: TOKEN, ingestToken: null, ...options });
}

/**
 * Two upstreams (v1, v2) and a gateway in front of them, new for every test of the calling suite.
 * Read them through the returned object inside tests: the hooks replace them before each.
 */
export function twoVersionFixture(): {
  readonly v1: Upstream;
  readonly v2: Upstream;
  readonly gw: RunningGateway;
} {
  const f = {} as { v1: Upstream; v2: Upstream; gw: RunningGateway };
  beforeEach(async () => {
    f.v1 = await startUpstream('v1');
    f.v2 = await startUpstream('v2');
    f.gw = await gateway({ config: twoVersionConfig(f.v1, f.v2) });
  });
  afterEach(async () => {
    await f.gw?.close();
    await f.v1?.close();
    await f.v2?.close();
  });
  return f;
}

export function adminHeaders(token = TOKEN): Record<string, string> {
  return { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
}

export async function putSplit(gw: RunningGateway, agent: string, body: unknown, token = TOKEN) {
  const res = await fetch(`${gw.url}/v1/admin/agents/${agent}/split`, {
    method: 'PUT',
    headers: adminHeaders(token),
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function getSplit(gw: RunningGateway, agent: string) {
  const res = await fetch(`${gw.url}/v1/admin/agents/${agent}/split`, { headers: adminHeaders() });
  return (await res.json()) as Record<string, unknown>;
}

/** Runs `fn` over `count` items, at most `concurrency` at a time. */
export async function pool<T>(
  count: number,
  concurrency: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

/** Polls until `check` returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function invoke(gw: RunningGateway, agent: string, session?: string, body = '{}') {
  const res = await fetch(`${gw.url}/v1/agents/${agent}/invoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(session ? { 'x-session-id': session } : {}) },
    body,
  });
  const text = await res.text();
  return {
    status: res.status,
    version: res.headers.get('x-agent-version'),
    requestId: res.headers.get('x-request-id'),
    text,
  };
}

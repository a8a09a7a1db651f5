// Seeded fuzzing of agent-canary's attack surface (issue 11): plans, workflow inputs, gateway
// configs, CLI flags and gateway HTTP (including slow and malformed clients). Every case must get a
// clean answer: a typed refusal naming a field (exit 2, or the documented 4xx with a JSON error),
// no secret and no stack trace in any output, the gateway alive and its stored split unchanged.
// Used by test/fuzz.test.ts (a short run inside `npm test`) and bench/fuzz.ts (`npm run fuzz`).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../src/demo/random';
import { GatewayConfigError, resolveGatewayConfig, startGateway } from '../src/gateway';
import {
  PLAN_LIMITS,
  PlanError,
  parsePlan,
  planForWorkflow,
  resolvePlan,
  type ResolvedPlan,
} from '../src/plan';

export const SECRET_ADMIN = 'fuzz-admin-token-5ec4e7';
export const SECRET_INGEST = 'fuzz-ingest-token-9a1b2c';
/** Planted in the environment of every process the fuzzer runs: must never be echoed. */
export const SECRET_ENV = 'fuzz-env-secret-d00d';

export interface Unclean {
  area: string;
  input: string;
  problem: string;
}

export interface FuzzReport {
  seed: number;
  cases: Record<string, number>;
  total: number;
  unclean: Unclean[];
  ms: number;
}

export interface FuzzOptions {
  seed: number;
  /** Cases per area (CLI cases are slower: each is a process). */
  plans: number;
  workflowInputs: number;
  gatewayConfigs: number;
  http: number;
  cli: number;
  log?: (line: string) => void;
}

type Rand = () => number;

const STACK = /\n\s+at [^\n]+\(|\n\s+at [^\n]+:\d+:\d+/;
const SECRETS = [SECRET_ADMIN, SECRET_INGEST, SECRET_ENV];

function pick<T>(r: Rand, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function show(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? v : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  s = s ?? String(v);
  return s.length > 300 ? `${s.slice(0, 300)}…(${s.length})` : s;
}

/** Values that broke things before, or break parsers in general. */
const HOSTILE: readonly unknown[] = [
  0,
  -1,
  1e308,
  -1e308,
  5e-324,
  1e-7,
  Number.MAX_SAFE_INTEGER,
  2 ** 53 + 1,
  '1e400',
  '9'.repeat(400),
  '100000000d',
  '999999999999h',
  '0.0000001ms',
  '-5m',
  '',
  ' ',
  'NaN',
  'Infinity',
  null,
  true,
  [],
  [[[[[]]]]],
  {},
  { __proto__: { polluted: true } },
  'constructor',
  '__proto__',
  '\u001b[31mred\u001b[0m',
  '\r\nx-injected: 1',
  '../../etc/passwd',
  '%2e%2e/%2e%2e',
  'file:///etc/passwd',
  'gopher://127.0.0.1:6379/_FLUSHALL',
  'http://user:pa55@127.0.0.1:9/x',
  'http://169.254.169.254/latest/meta-data',
  'javascript:alert(1)',
  'AGENT_CANARY_ADMIN_TOKEN',
  'TEMPORAL_API_KEY',
  'FUZZ_PLANTED_SECRET',
  'x'.repeat(10_000),
  '\u202egnp.exe',
  '\ud800',
];

const DURATION_FIELDS = ['30s', '5m', '1h30m', 1000, '250ms'];

function hostile(r: Rand): unknown {
  const v = pick(r, HOSTILE);
  return typeof v === 'object' && v !== null ? JSON.parse(JSON.stringify(v)) : v;
}

/** A valid plan with a few fields replaced by hostile values (or removed, or added). */
function hostilePlan(r: Rand): Record<string, unknown> {
  const plan: Record<string, unknown> = {
    agent: 'bot',
    stable: 'v1',
    canary: 'v2',
    analysis: { interval: pick(r, DURATION_FIELDS), minSamples: 10 },
  };
  const shape = r();
  if (shape < 0.5) plan.stages = [{ weight: 5, observe: '1m' }, { weight: 100 }];
  else if (shape < 0.75) plan.steps = { stepWeight: 10, maxWeight: 50, interval: '1m' };
  if (r() < 0.5) {
    plan.notify = [
      pick(r, [
        { type: 'slack', webhookUrl: 'https://hooks.slack.com/services/T/B/X' },
        { type: 'slack', webhookUrlEnv: 'AGENT_CANARY_NOTIFY_SLACK' },
        { type: 'webhook', url: 'https://ops.example/h', secret: 'x'.repeat(16) },
        { type: 'webhook', url: 'https://ops.example/h', secretEnv: 'AGENT_CANARY_NOTIFY_SECRET' },
        { type: 'log' },
      ]),
    ];
  }
  const paths: string[][] = [
    ['agent'],
    ['stable'],
    ['canary'],
    ['progressDeadline'],
    ['leaseTtl'],
    ['analysis', 'interval'],
    ['analysis', 'failureLimit'],
    ['analysis', 'minSamples'],
    ['analysis', 'alpha'],
    ['analysis', 'judge'],
    ['analysis', 'metrics'],
    ['analysis', 'thresholds', 'error_rate', 'maxAbsolute'],
    ['analysis', 'minEffect', 'quality_score'],
    ['stages', '0', 'weight'],
    ['stages', '0', 'observe'],
    ['stages'],
    ['steps', 'stepWeight'],
    ['steps', 'maxWeight'],
    ['steps', 'interval'],
    ['steps'],
    ['notify', '0', 'webhookUrl'],
    ['notify', '0', 'webhookUrlEnv'],
    ['notify', '0', 'url'],
    ['notify', '0', 'secret'],
    ['notify', '0', 'secretEnv'],
    ['notify', '0', 'type'],
    ['notify'],
    ['unknownField'],
  ];
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++) setPath(plan, pick(r, paths), hostile(r));
  return plan;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o: Record<string, unknown> = obj;
  for (const key of path.slice(0, -1)) {
    if (typeof o[key] !== 'object' || o[key] === null) o[key] = /^\d+$/.test(key) ? [] : {};
    o = o[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (value === undefined) delete o[last];
  else o[last] = value;
}

/** What a resolved plan must satisfy for the workflow to run it safely. */
function boundsProblem(p: ResolvedPlan): string | undefined {
  if (p.stages.length < 1 || p.stages.length > PLAN_LIMITS.maxStages) return `${p.stages.length} stages`;
  if (p.stages[p.stages.length - 1].weight !== 100) return 'last stage not 100';
  if (!(p.leaseTtlMs > 0 && p.leaseTtlMs <= PLAN_LIMITS.maxLeaseTtlMs)) return `leaseTtlMs ${p.leaseTtlMs}`;
  if (!(p.progressDeadlineMs <= PLAN_LIMITS.maxProgressDeadlineMs)) return `deadline ${p.progressDeadlineMs}`;
  if (!(p.analysis.intervalMs >= PLAN_LIMITS.minIntervalMs)) return `interval ${p.analysis.intervalMs}`;
  for (const t of p.notify) {
    const url = t.type === 'slack' ? t.webhookUrl : t.type === 'webhook' ? t.url : undefined;
    if (url && !/^https?:\/\//.test(url)) return `notify url ${url}`;
    const env = t.type === 'slack' ? t.webhookUrlEnv : t.type === 'webhook' ? t.secretEnv : undefined;
    if (env && !env.startsWith('AGENT_CANARY_NOTIFY_')) return `notify env ${env}`;
  }
  if (!Number.isFinite(JSON.stringify(p).length)) return 'not JSON';
  return undefined;
}

/** A function under test must return or throw the expected error type, with a clean message. */
function cleanThrow(fn: () => unknown, expected: (e: unknown) => boolean): string | undefined | 'ok' {
  const started = performance.now();
  const slow = () => {
    const ms = performance.now() - started;
    // A hang or a blow-up, not a slow machine: CI shares two cores with servers and browsers.
    return ms > 5000 ? `took ${Math.round(ms)} ms` : undefined;
  };
  try {
    fn();
    return slow() ?? 'ok';
  } catch (err) {
    if (!expected(err)) return `threw ${(err as Error)?.name}: ${(err as Error)?.message?.slice(0, 200)}`;
    const msg = (err as Error).message;
    if (STACK.test(msg)) return 'stack trace in message';
    if (SECRETS.some((s) => msg.includes(s))) return 'secret in message';
    const problems = (err as { problems?: { field: string; message: string }[] }).problems ?? [];
    if (problems.length === 0) return 'no problem listed';
    if (problems.some((p) => typeof p.message !== 'string' || p.message === '')) return 'empty problem';
    return slow();
  }
}

function fuzzPlans(r: Rand, n: number, out: Unclean[]): void {
  for (let i = 0; i < n; i++) {
    const input = hostilePlan(r);
    let resolved: ResolvedPlan | undefined;
    const verdict = cleanThrow(
      () => (resolved = resolvePlan(input)),
      (e) => e instanceof PlanError,
    );
    if (verdict !== undefined && verdict !== 'ok')
      out.push({ area: 'plan', input: show(input), problem: verdict });
    if (verdict === 'ok' && resolved) {
      const b = boundsProblem(resolved);
      if (b) out.push({ area: 'plan', input: show(input), problem: `accepted out of bounds: ${b}` });
    }
  }
  // The same through the text parser: YAML features (aliases, tags, anchors) and broken syntax.
  const texts = [
    'agent: bot\nstable: v1\ncanary: v2\nprogressDeadline: 1e400\n',
    'a: &a [*a, *a]\n',
    `x: &x ${'[*x,'.repeat(200)}${']'.repeat(200)}`,
    `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from(
      { length: 9 },
      (_, i) =>
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(97 + i)}`)
          .join(', ')}]`,
    ).join('\n')}\n`,
    'agent: !!js/function "function(){}"\n',
    '{"agent": "bot", "stable": "v1", "canary": "v2", "__proto__": {"x": 1}}',
    '- 1\n- 2\n',
    'agent: [unclosed',
    '\u0000\u0001',
    'agent: bot\nstable: v1\ncanary: v2\nsteps: {stepWeight: 1e-7, maxWeight: 50, interval: 1m}\n',
  ];
  for (const text of texts) {
    const v = cleanThrow(
      () => parsePlan(text),
      (e) => e instanceof PlanError,
    );
    if (v !== undefined && v !== 'ok') out.push({ area: 'plan-text', input: show(text), problem: v });
  }
}

function fuzzWorkflowInputs(r: Rand, n: number, out: Unclean[]): void {
  const good = resolvePlan({ agent: 'bot', stable: 'v1', canary: 'v2' });
  const paths = [
    ['stages'],
    ['stages', '0', 'weight'],
    ['stages', '0', 'observeMs'],
    ['leaseTtlMs'],
    ['progressDeadlineMs'],
    ['analysis', 'intervalMs'],
    ['analysis', 'failureLimit'],
    ['analysis', 'alpha'],
    ['analysis', 'metrics'],
    ['analysis', 'observedStages'],
    ['notify'],
    ['notify', '0', 'type'],
    ['notify', '0', 'webhookUrl'],
    ['agent'],
    ['canary'],
    ['extra'],
  ];
  for (let i = 0; i < n; i++) {
    const input = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
    if (r() < 0.1) {
      input.stages = [];
    } else {
      const k = 1 + Math.floor(r() * 2);
      for (let j = 0; j < k; j++) setPath(input, pick(r, paths), hostile(r));
    }
    let resolved: ResolvedPlan | undefined;
    const v = cleanThrow(
      () => (resolved = planForWorkflow(input)),
      (e) => e instanceof PlanError,
    );
    if (v !== undefined && v !== 'ok') out.push({ area: 'workflow-input', input: show(input), problem: v });
    if (v === 'ok' && resolved) {
      const b = boundsProblem(resolved);
      if (b)
        out.push({ area: 'workflow-input', input: show(input), problem: `accepted out of bounds: ${b}` });
    }
  }
}

function fuzzGatewayConfigs(r: Rand, n: number, out: Unclean[]): void {
  const paths = [
    ['agents'],
    ['agents', 'bot'],
    ['agents', 'bot', 'stable'],
    ['agents', 'bot', 'versions'],
    ['agents', 'bot', 'versions', 'v1'],
    ['agents', 'bot', 'upstream'],
    ['agents', 'bot', 'timeout'],
    ['agents', 'bot', 'versionHeader'],
    ['feedback', 'ttl'],
    ['feedback', 'maxPending'],
    ['metrics', 'retention'],
    ['metrics'],
    ['other'],
  ];
  for (let i = 0; i < n; i++) {
    const input: Record<string, unknown> = {
      agents: { bot: { stable: 'v1', versions: { v1: 'http://127.0.0.1:9', v2: 'http://127.0.0.1:9/b' } } },
    };
    const k = 1 + Math.floor(r() * 2);
    for (let j = 0; j < k; j++) setPath(input, pick(r, paths), hostile(r));
    let retentionMs = 0;
    const v = cleanThrow(
      () => (retentionMs = resolveGatewayConfig(input).metrics.retentionMs),
      (e) => e instanceof GatewayConfigError,
    );
    if (v !== undefined && v !== 'ok') out.push({ area: 'gateway-config', input: show(input), problem: v });
    if (v === 'ok' && !(retentionMs <= 24 * 3_600_000)) {
      out.push({ area: 'gateway-config', input: show(input), problem: `retention ${retentionMs}` });
    }
  }
}

// ---- gateway HTTP ----

interface HttpCase {
  describe: string;
  /** Raw bytes to send (a full request), or a structured request. */
  raw?: Buffer;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the body this slowly (ms between chunks) and hang up early. */
  slow?: boolean;
}

const PATHS = [
  '/v1/agents/bot/invoke',
  '/v1/agents/bot/invoke/sub/path?q=1',
  '/v1/agents/bot/invoke/../../admin',
  '/v1/agents/bot/invoke/%2e%2e/%2e%2e/admin',
  '/v1/agents/bot/invoke/.%2E/x',
  '/v1/agents/bot/invoke/..\\x',
  '/v1/agents/bot/invoke/%ff%fe',
  '/v1/agents/bot/route?key=' + 'k'.repeat(5000),
  '/v1/agents/bot/outcomes',
  '/v1/agents/%00/outcomes',
  '/v1/agents/' + 'a'.repeat(3000) + '/route',
  '/v1/agents/%E2%80%AE/route',
  '/v1/feedback',
  '/v1/admin/agents/bot/split',
  '/v1/admin/agents/bot/metrics?since=-1e308&until=1e308',
  '/v1/admin/agents/bot/metrics?since=abc',
  '/v1/admin/agents/../agents/bot/split',
  '/metrics',
  '/healthz',
  '/',
  '*',
  '//v1//agents//bot',
];

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'BREW'];

function hostileBody(r: Rand): string {
  const forOutcome = () => ({
    version: pick(r, ['v1', 'v2', 'v9', '', 1, null]),
    qualityScore: pick(r, [0.5, 1e308, -1e308, 'high', null, 1000, 1000.0001, 5e-324]),
    latencyMs: pick(r, [1, -1, 1e308, '5', undefined]),
    requestId: pick(r, [undefined, 'x', 'a'.repeat(200), '../x', '\u001b[2J']),
    error: pick(r, [true, false, 'yes', undefined]),
  });
  const choices: (() => unknown)[] = [
    forOutcome,
    () => Array.from({ length: pick(r, [0, 1, 1001]) }, forOutcome),
    () => ({ requestId: pick(r, ['x', '', 123, 'a'.repeat(200)]), qualityScore: pick(r, [1e308, 0.5, 'x']) }),
    () => ({ requestId: 'r', taskSuccess: 'maybe' }),
    () => ({
      stable: 'v1',
      canary: 'v2',
      canaryWeight: pick(r, [50, 1e308, -1, 101]),
      leaseMs: pick(r, [1e20, 0, null]),
    }),
    () => hostile(r),
    () => ({ nested: JSON.parse('['.repeat(500) + ']'.repeat(500)) }),
  ];
  const v = pick(r, choices)();
  if (r() < 0.1) return '{"unterminated": ';
  if (r() < 0.05) return '\u0000\u00ff garbage';
  return JSON.stringify(v) ?? 'null';
}

function httpCase(r: Rand): HttpCase {
  const kind = r();
  if (kind < 0.08) {
    // Malformed request lines and framing, answered by Node's parser (400) or a closed socket.
    const raws = [
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
      'POST /v1/feedback HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'GET /\u0000 HTTP/1.1\r\nHost: x\r\n\r\n',
      'GARBAGE\r\n\r\n',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      'POST /v1/feedback HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      'GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
    ];
    const raw = pick(r, raws);
    return { describe: `raw ${show(raw.slice(0, 60))}`, raw: Buffer.from(raw, 'latin1') };
  }
  const method = pick(r, METHODS);
  const path = pick(r, PATHS);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const auth = r();
  if (auth < 0.2) headers.authorization = `Bearer ${SECRET_INGEST}`;
  else if (auth < 0.3) headers.authorization = `Bearer ${SECRET_ADMIN}x`;
  else if (auth < 0.35) headers.authorization = 'Basic ' + Buffer.from('a:b').toString('base64');
  if (r() < 0.2) headers.connection = 'keep-alive, x-hop';
  if (r() < 0.2) headers['x-request-id'] = pick(r, ['ok-1', '../../x', 'a'.repeat(300), '\u00ff']);
  if (r() < 0.1) headers['x-session-id'] = 'k'.repeat(4000);
  const body =
    method === 'GET' || method === 'HEAD' ? undefined : r() < 0.05 ? 'x'.repeat(1_100_000) : hostileBody(r);
  return {
    describe: `${method} ${path.slice(0, 80)} ${body ? show(body).slice(0, 120) : ''}`,
    method,
    path,
    headers,
    body,
    slow: r() < 0.04,
  };
}

interface HttpAnswer {
  status: number;
  body: string;
  closed: boolean;
}

function sendRaw(port: number, raw: Buffer): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    const done = () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      resolve({
        status: m ? Number(m[1]) : 0,
        body: data.split('\r\n\r\n').slice(1).join('\r\n\r\n'),
        closed: !m,
      });
    };
    socket.setTimeout(5000, () => socket.destroy());
    socket.on('data', (c) => {
      data += c.toString('latin1');
      // One answer is enough.
      if (/\r\n\r\n/.test(data)) setTimeout(() => socket.destroy(), 50);
    });
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.end(raw);
  });
}

function sendStructured(port: number, c: HttpCase): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: c.method,
        path: c.path,
        headers: c.headers,
        agent: false,
        timeout: 5000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => (text += s));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, closed: false }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, body: text, closed: true }));
      },
    );
    req.on('error', () => resolve({ status: 0, body: '', closed: true }));
    req.on('timeout', () => req.destroy());
    if (c.slow && c.body) {
      // A slow client that gives up halfway: the gateway must neither hang nor log a stack.
      req.setHeader('content-length', String(Buffer.byteLength(c.body) + 100));
      req.write(String(c.body).slice(0, 5));
      setTimeout(() => req.destroy(), 30);
      return;
    }
    // Framed explicitly: Node's client sends DELETE/OPTIONS/TRACE bodies without a length otherwise.
    if (c.body !== undefined) req.setHeader('content-length', String(Buffer.byteLength(c.body)));
    req.end(c.body);
  });
}

/** Statuses the gateway documents; 502 only from /invoke (the upstream), 0 = closed for a raw case. */
const DOCUMENTED = new Set([200, 400, 401, 404, 405, 409, 413, 431]);

async function fuzzHttp(r: Rand, n: number, out: Unclean[], log: (l: string) => void): Promise<void> {
  const upstream = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        connection: 'x-up-hop',
        'x-up-hop': SECRET_ENV,
      });
      res.end(JSON.stringify({ ok: true, path: req.url }));
    });
  });
  await new Promise<void>((res) => upstream.listen(0, '127.0.0.1', res));
  const upUrl = `http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
  const logs: string[] = [];
  const gw = await startGateway({
    config: { agents: { bot: { stable: 'v1', versions: { v1: `${upUrl}/base`, v2: `${upUrl}/base2` } } } },
    adminToken: SECRET_ADMIN,
    ingestToken: SECRET_INGEST,
    log: (l) => logs.push(l),
  });
  const port = gw.port;
  const splitOf = async () =>
    (
      await fetch(`${gw.url}/v1/admin/agents/bot/split`, {
        headers: { authorization: `Bearer ${SECRET_ADMIN}` },
      })
    ).text();
  const before = JSON.parse(await splitOf()) as Record<string, unknown>;
  try {
    for (let i = 0; i < n; i++) {
      const c = httpCase(r);
      const a = c.raw ? await sendRaw(port, c.raw) : await sendStructured(port, c);
      const problem = judgeHttp(c, a);
      if (problem) out.push({ area: 'http', input: c.describe, problem });
      if (i % 50 === 49) {
        const h = await fetch(`${gw.url}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(
          () => undefined,
        );
        if (!h?.ok) out.push({ area: 'http', input: `after case ${i}`, problem: 'gateway not healthy' });
      }
    }
    const after = JSON.parse(await splitOf()) as Record<string, unknown>;
    for (const k of ['stable', 'canary', 'canaryWeight', 'leaseExpiresAt', 'updatedAt']) {
      if (after[k] !== before[k]) {
        out.push({
          area: 'http',
          input: 'whole run',
          problem: `stored split changed: ${k} ${before[k]} -> ${after[k]}`,
        });
      }
    }
    for (const l of logs) {
      if (STACK.test(l) || /internal error/.test(l))
        out.push({ area: 'http', input: 'gateway log', problem: show(l) });
      if (SECRETS.some((s) => l.includes(s)))
        out.push({ area: 'http', input: 'gateway log', problem: 'secret logged' });
    }
  } finally {
    log(`http: ${n} cases against ${gw.url}`);
    await gw.close();
    await new Promise<void>((res) => {
      upstream.closeAllConnections();
      upstream.close(() => res());
    });
  }
}

function judgeHttp(c: HttpCase, a: HttpAnswer): string | undefined {
  if (SECRETS.some((s) => a.body.includes(s))) return 'secret in the answer';
  if (STACK.test(a.body)) return 'stack trace in the answer';
  if (c.raw || c.slow) {
    // Node answers malformed framing itself (400/431) or closes; either is clean.
    return a.closed || a.status === 0 || DOCUMENTED.has(a.status) ? undefined : `status ${a.status}`;
  }
  if (a.status === 0) return 'connection closed without an answer';
  const invoke = /\/invoke(\/|\?|$)/.test(c.path ?? '');
  if (a.status === 502 && invoke) return undefined;
  if (a.status >= 500) return `status ${a.status}: ${a.body.slice(0, 200)}`;
  if (!DOCUMENTED.has(a.status)) return `undocumented status ${a.status}`;
  if (a.status >= 400 && c.method !== 'HEAD') {
    let json: { error?: unknown };
    try {
      json = JSON.parse(a.body) as { error?: unknown };
    } catch {
      return `${a.status} without a JSON body: ${a.body.slice(0, 100)}`;
    }
    if (typeof json.error !== 'string' || json.error === '') return `${a.status} without an error message`;
    if (a.status === 400 && /\(body\): Invalid input/.test(json.error))
      return `400 without the field: ${json.error}`;
  }
  return undefined;
}

// ---- CLI ----

const BIN = join(__dirname, '..', 'bin', 'agent-canary.js');

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

async function fuzzCli(r: Rand, n: number, out: Unclean[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-cli-'));
  const env = {
    ...process.env,
    AGENT_CANARY_ADMIN_TOKEN: SECRET_ADMIN,
    FUZZ_PLANTED_SECRET: SECRET_ENV,
    TEMPORAL_ADDRESS: '127.0.0.1:1',
  };
  for (let i = 0; i < n; i++) {
    const file = join(dir, `plan-${i}.yaml`);
    const plan = hostilePlan(r);
    writeFileSync(file, r() < 0.1 ? 'agent: [broken' : JSON.stringify(plan));
    const args = pick(r, [
      ['validate', '-f', file],
      ['validate', '-f', file, '--json'],
      ['validate', '-f', join(dir, 'missing.yaml')],
      ['validate', '-f', dir],
      ['validate', '--unknown-flag'],
      [
        'status',
        String(hostile(r)).slice(0, 200),
        '--address',
        pick(r, ['localhost:99999', 'x:y:z', '', '[::1']),
      ],
    ]);
    const { code, out: text } = await runCli(args, env);
    const problem =
      code !== 0 && code !== 1 && code !== 2
        ? `exit ${code}`
        : STACK.test(text)
          ? 'stack trace in output'
          : SECRETS.some((s) => text.includes(s))
            ? 'secret in output'
            : /unexpected error/i.test(text)
              ? 'unexpected error'
              : undefined;
    if (problem)
      out.push({
        area: 'cli',
        input: `${args.join(' ').slice(0, 200)} ${show(plan).slice(0, 100)}`,
        problem: `${problem}: ${text.slice(0, 200)}`,
      });
  }
}

/** Runs every area with its own stream of the seed, so a failing area reproduces alone. */
export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const log = o.log ?? (() => {});
  const unclean: Unclean[] = [];
  const stream = (k: number) => seededRandom(o.seed * 7919 + k);
  fuzzPlans(stream(1), o.plans, unclean);
  log(`plans: ${o.plans} cases (+10 texts)`);
  fuzzWorkflowInputs(stream(2), o.workflowInputs, unclean);
  log(`workflow inputs: ${o.workflowInputs} cases`);
  fuzzGatewayConfigs(stream(3), o.gatewayConfigs, unclean);
  log(`gateway configs: ${o.gatewayConfigs} cases`);
  await fuzzHttp(stream(4), o.http, unclean, log);
  if (o.cli > 0) {
    await fuzzCli(stream(5), o.cli, unclean);
    log(`cli: ${o.cli} cases`);
  }
  const cases = {
    plan: o.plans + 10,
    'workflow-input': o.workflowInputs,
    'gateway-config': o.gatewayConfigs,
    http: o.http,
    cli: o.cli,
  };
  return {
    seed: o.seed,
    cases,
    total: Object.values(cases).reduce((a, b) => a + b, 0),
    unclean,
    ms: Date.now() - started,
  };
}

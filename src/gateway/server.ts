import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { z } from 'zod';
import type { VersionMetrics } from '../metrics/types';
import { resolveGatewayConfig, type GatewayConfig } from './config';
import { printable } from '../text/sanitize';
import { GatewayConfigError } from './config';
import { QUALITY_LIMIT } from './histogram';
import {
  BadRequest,
  ClientGone,
  queryParams,
  readJson,
  sendError,
  sendJson,
  tokenChecker,
} from './http-util';
import { AgentEvaluator } from './evaluator';
import { ExportLogsSchema, parseEvaluations } from './evaluator-otlp';
import { FileMetricsJournal, type MetricsJournal } from './metrics-journal';
import { VersionSeries, metricsFromRecords, renderPrometheus, type SecondRecord } from './metrics-store';
import { PendingRequests, type JoinResult } from './pending';
import { REQUEST_ID, makeUpstream, proxy, type AgentRuntime, type ProxyContext } from './proxy';
import { canaryActive, chooseVersion } from './routing';
import { Replication } from './replication';
import { SharedState } from './shared-state';
import { FileSplitStore, MemorySplitStore, SharedSplitStore, StaleSplit } from './split-store';
import { SplitRejected, SplitTable } from './splits';
import { ShadowMirror, renderShadowPrometheus } from './shadow';

export interface GatewayOptions {
  /** A config from `loadGatewayConfig`, or a plain object in the config file's shape. */
  config: GatewayConfig | unknown;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** Bearer token for /v1/admin. Required: the admin API moves production traffic. */
  adminToken: string;
  /**
   * Bearer token for the ingest routes (POST /v1/agents/:agent/outcomes, POST /v1/feedback): they
   * feed the judge, so anyone who can post them can steer a rollout. A string: that token is
   * required (it grants nothing on /v1/admin). null: open ingest, for `dev` and `demo` only.
   * Omitted: the admin token is required, so ingest is never open by accident.
   */
  ingestToken?: string | null;
  /**
   * Where the split and the metrics survive restarts; without it both live in memory only (and the
   * judge is told, by `dataSince`, that metrics begin at this start).
   */
  dataDir?: string;
  /**
   * Replicas behind a load balancer: the PostgreSQL database they share (splits, which replica
   * applied what, requests waiting for feedback, metrics). Takes the place of dataDir.
   */
  sharedState?: { url: string; replicaId?: string };
  /** How often lapsed leases are written back as 100% stable (routing ignores them at once). */
  leaseSweepMs?: number;
  log?: (line: string) => void;
  /** Told of every request an upstream failed (answered 502 or cut off), e.g. for a rate-limited log. */
  onUpstreamFailure?: ProxyContext['onUpstreamFailure'];
  /** Where evaluator API keys are read (`evaluate.apiKeyEnv`); process.env by default. */
  env?: NodeJS.ProcessEnv;
}

export interface RunningGateway {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Bounded so a sum of them can never overflow (1e308 * 1000 was Infinity, then null in JSON). */
const QualityScore = z
  .number({ error: 'must be a number' })
  .min(-QUALITY_LIMIT, `must be between -${QUALITY_LIMIT} and ${QUALITY_LIMIT}`)
  .max(QUALITY_LIMIT, `must be between -${QUALITY_LIMIT} and ${QUALITY_LIMIT}`);
const RequestId = z
  .string({ error: 'must be a string' })
  .regex(REQUEST_ID, 'must be 1-128 of A-Z a-z 0-9 . _ : -');

const FeedbackSchema = z
  .object({
    requestId: RequestId,
    taskSuccess: z.boolean({ error: 'must be true or false' }).optional(),
    qualityScore: QualityScore.optional(),
  })
  .refine((f) => f.taskSuccess !== undefined || f.qualityScore !== undefined, {
    message: 'give taskSuccess or qualityScore (or both)',
  });

const OutcomeSchema = z.object({
  version: z
    .string({ error: 'must be a string' })
    .min(1, 'must not be empty')
    .max(128, 'must be at most 128 characters'),
  /** Lets later POST /v1/feedback calls join this request. */
  requestId: RequestId.optional(),
  latencyMs: z
    .number({ error: 'must be a number' })
    .nonnegative()
    .max(86_400_000, 'must be at most 86400000 (a day)')
    .optional(),
  error: z.boolean({ error: 'must be true or false' }).default(false),
  taskSuccess: z.boolean({ error: 'must be true or false' }).optional(),
  qualityScore: QualityScore.optional(),
});
// One schema per shape (not a union), so an error names the field instead of "(body): Invalid input".
const OutcomeListSchema = z.array(OutcomeSchema).min(1).max(1000, 'at most 1000 outcomes per request');

function zodReason(err: z.ZodError): string {
  return err.issues
    .slice(0, 10)
    .map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`)
    .join('; ');
}

/** Names from a request echoed in an error: short and printable. */
function shown(name: string): string {
  return JSON.stringify(printable(name, 100));
}

function isResolved(c: unknown): c is GatewayConfig {
  return typeof c === 'object' && c !== null && (c as GatewayConfig).agents instanceof Map;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  if (!options.adminToken) throw new Error('startGateway: adminToken is required');
  const config = isResolved(options.config) ? options.config : resolveGatewayConfig(options.config);
  const log = options.log ?? (() => {});
  const retentionSeconds = Math.ceil(config.metrics.retentionMs / 1000);

  const agents = new Map<string, AgentRuntime>();
  for (const [name, ac] of config.agents) {
    const upstreams = new Map();
    for (const [version, url] of ac.versions) {
      const up = makeUpstream(version, url, new VersionSeries(name, version, retentionSeconds), ac.timeoutMs);
      // Test-routed requests (docs/gates.md): their own series, not journaled or shared, never judged.
      up.testSeries = new VersionSeries(name, version, retentionSeconds);
      upstreams.set(version, up);
    }
    agents.set(name, { config: ac, upstreams });
  }
  const series = new Map<string, VersionSeries>();
  for (const rt of agents.values()) {
    for (const up of rt.upstreams.values()) series.set(`${rt.config.name}\u0000${up.version}`, up.series);
  }
  const shared = options.sharedState ? await SharedState.open({ ...options.sharedState, log }) : undefined;
  let splits: SplitTable;
  let journal: MetricsJournal | undefined;
  let replication: Replication | undefined;
  try {
    if (shared) {
      const store = new SharedSplitStore(shared, await shared.splits());
      splits = new SplitTable(config.agents, store, log);
      await splits.init(Date.now());
      replication = new Replication(shared, store, splits, log);
      await replication.start();
      journal = shared.journal();
    } else {
      splits = await openSplits(options.dataDir, config, log);
      journal = options.dataDir
        ? await openJournal(options.dataDir, retentionSeconds, series, log)
        : undefined;
    }
  } catch (err) {
    await replication?.stop();
    await shared?.close().catch(() => undefined);
    throw err;
  }
  // Without a journal metrics live in memory: the judge must know they start here, not at the
  // stage's start.
  const metricsSince = journal?.since ?? Date.now();
  const pending = shared
    ? new SharedPending(shared, config.feedback.ttlMs, config.feedback.maxPending)
    : new PendingRequests(config.feedback.ttlMs, config.feedback.maxPending);
  const recordJoined = (joined: JoinResult, f: { taskSuccess?: boolean; qualityScore?: number }) => {
    // Another replica served the request: the outcome is counted here, and the judge reads the sum.
    if (joined.ok && shared)
      series.get(`${joined.agent}\u0000${joined.version}`)?.recordOutcome(f, Date.now());
  };
  // Each agent's online evaluator records its verdicts through the same join as POST /v1/feedback.
  const joinEvaluated = async (
    requestId: string,
    o: { taskSuccess?: boolean; qualityScore?: number },
    source: 'feedback' | 'evaluator',
  ): Promise<JoinResult> => {
    const now = Date.now();
    const joined = shared
      ? await shared.join(requestId, o.taskSuccess, o.qualityScore, now, config.feedback.ttlMs)
      : pending.join(requestId, o.taskSuccess, o.qualityScore, now, source);
    recordJoined(joined, { ...o, ...(source === 'evaluator' ? { fromEvaluator: true } : {}) });
    return joined;
  };
  for (const rt of agents.values()) {
    if (!rt.config.evaluate) continue;
    rt.evaluator = new AgentEvaluator({
      agent: rt.config.name,
      config: rt.config.evaluate,
      env: options.env,
      log,
      record: async (id, o) => (await joinEvaluated(id, o, 'evaluator')).ok,
      currentCanary: () => {
        const split = splits.peek(rt.config.name);
        return split && canaryActive(split, Date.now()) ? split.canary : null;
      },
    });
    if (rt.evaluator.missingKey) {
      log(`${rt.config.name}: evaluate.apiKeyEnv names ${rt.config.evaluate.apiKeyEnv}, which is not set`);
    }
  }
  // Shadow stages (docs/shadow.md): only for agents whose config allows mirrored requests.
  for (const rt of agents.values()) {
    if (!rt.config.shadowAllowed) continue;
    rt.shadow = new ShadowMirror(rt.config, rt.upstreams, retentionSeconds, rt.evaluator, rt.config.prices);
  }
  const checkToken = tokenChecker(options.adminToken);
  const ingest =
    options.ingestToken === null ? undefined : tokenChecker(options.ingestToken ?? options.adminToken);
  let feedbackUnmatched = 0;

  /** 401 unless the ingest credential is given (or ingest is open); true when answered. */
  function refuseIngest(req: IncomingMessage, res: ServerResponse): boolean {
    if (!ingest) return false;
    const auth = ingest(req.headers.authorization);
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

  const allSeries = () => [...agents.values()].flatMap((a) => [...a.upstreams.values()].map((u) => u.series));

  async function admin(
    rt: AgentRuntime,
    action: string,
    query: string,
    req: IncomingMessage,
    res: ServerResponse,
  ) {
    const agent = rt.config.name;
    if (action === 'split') {
      if (req.method === 'GET') return sendJson(res, 200, splits.get(agent, Date.now()));
      if (req.method === 'PUT') {
        const body = await readJson(req);
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
        log(`${agent}: split ${applied.stable}/${applied.canary ?? '-'} ${applied.canaryWeight}%`);
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
      }
      return sendError(res, 405, 'use GET or PUT');
    }
    if (action === 'metrics') {
      if (req.method !== 'GET') return sendError(res, 405, 'use GET');
      const q = queryParams(query);
      const now = Date.now();
      const since = q.has('since') ? Number(q.get('since')) : now - 60_000;
      const until = q.has('until') ? Number(q.get('until')) : now + 1;
      if (!Number.isFinite(since) || !Number.isFinite(until)) {
        throw new BadRequest(400, 'since and until must be epoch milliseconds');
      }
      if (since >= until) throw new BadRequest(400, `since (${since}) must be before until (${until})`);
      const versions: Record<string, VersionMetrics> = {};
      if (shared) {
        // The sum over replicas of their finished seconds (a second counts when it starts inside).
        const first = Math.floor(since / 1000);
        const last = Math.min(Math.ceil(until / 1000) - 1, Math.floor(now / 1000));
        const byVersion = new Map<string, SecondRecord[]>();
        for (const r of await shared.seconds(agent, first, last)) {
          const list = byVersion.get(r.version) ?? [];
          list.push(r);
          byVersion.set(r.version, list);
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
      return sendJson(res, 200, {
        agent,
        since,
        until,
        dataSince: metricsSince,
        versions,
        testRoutes,
        ...(rt.evaluator
          ? { evaluator: evaluatorAnswer(rt.evaluator, since, until, now, q.get('canary')) }
          : {}),
        // This replica's mirrored copies and judged pairs, apart from served traffic.
        ...(rt.shadow ? { shadow: rt.shadow.answer(q.get('canary'), since, until, now) } : {}),
      });
    }
    if (action === 'versions') {
      // For preflight: which versions exist and whether their upstreams accept a connection (a TCP
      // connect only: no request reaches the agent).
      if (req.method !== 'GET') return sendError(res, 405, 'use GET');
      const versions = await Promise.all(
        [...rt.config.versions].map(async ([name, url]) => ({
          name,
          upstream: url.origin,
          ...(await connects(url)),
          priced: rt.config.prices?.has(name) ?? false,
        })),
      );
      // For the preflight of metrics read from the answers (src/metrics/signal-preflight.ts).
      const reading = { usage: config.usage !== false, modelPrices: config.modelPrices?.size ?? 0 };
      // For the preflight of a shadow stage: the agent must allow mirroring and have an evaluator.
      const shadow = {
        shadow: rt.config.shadowAllowed ? 'allowed' : 'not allowed',
        evaluator: !!rt.evaluator,
      };
      return sendJson(res, 200, { agent, versions, ...reading, ...shadow });
    }
    return sendError(res, 404, `no admin resource "${action}" (use split, metrics or versions)`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const qi = raw.indexOf('?');
    const path = qi < 0 ? raw : raw.slice(0, qi);
    const query = qi < 0 ? '' : raw.slice(qi);

    if (path.startsWith('/v1/agents/')) {
      const slash = path.indexOf('/', 11);
      const name = decode(slash < 0 ? path.slice(11) : path.slice(11, slash));
      const rest = slash < 0 ? '' : path.slice(slash);
      const rt = agents.get(name);
      // Unauthenticated: say what is wrong without listing what is configured.
      if (!rt) return sendError(res, 404, `unknown agent ${shown(name)}`);
      if (rest === '/invoke' || rest.startsWith('/invoke/')) {
        return proxy(
          (proxyCtx ??= {
            splits,
            pending,
            onUpstreamFailure: options.onUpstreamFailure,
            ...(config.usage !== false ? { usage: { modelPrices: config.modelPrices } } : {}),
          }),
          rt,
          rest.slice(7),
          query,
          req,
          res,
        );
      }
      if (rest === '/route') {
        if (req.method !== 'GET') return sendError(res, 405, 'use GET');
        const key = queryParams(query).get('key') || undefined;
        return sendJson(res, 200, {
          agent: name,
          version: chooseVersion(splits.peek(name)!, key, Date.now()),
        });
      }
      if (rest === '/outcomes') {
        if (req.method !== 'POST') return sendError(res, 405, 'use POST');
        if (refuseIngest(req, res)) return;
        const body = await readJson(req);
        const parsed = Array.isArray(body)
          ? OutcomeListSchema.safeParse(body)
          : OutcomeSchema.safeParse(body);
        if (!parsed.success) throw new BadRequest(400, zodReason(parsed.error));
        const items = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
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
          if (o.requestId && shared) {
            shared.remember(
              o.requestId,
              name,
              o.version,
              now,
              o.taskSuccess !== undefined,
              o.qualityScore !== undefined,
            );
          } else if (o.requestId && pending.add(o.requestId, series, now)) {
            pending.markReported(o.requestId, o.taskSuccess !== undefined, o.qualityScore !== undefined);
          }
        }
        return sendJson(res, 200, { accepted: items.length });
      }
      return sendError(
        res,
        404,
        `no route ${req.method} ${printable(path, 100)} (use /invoke, /route or /outcomes)`,
      );
    }

    if (path === '/v1/feedback') {
      if (req.method !== 'POST') return sendError(res, 405, 'use POST');
      if (refuseIngest(req, res)) return;
      const parsed = FeedbackSchema.safeParse(await readJson(req));
      if (!parsed.success) throw new BadRequest(400, zodReason(parsed.error));
      const f = parsed.data;
      const joined = shared
        ? await shared.join(f.requestId, f.taskSuccess, f.qualityScore, Date.now(), config.feedback.ttlMs)
        : pending.join(f.requestId, f.taskSuccess, f.qualityScore, Date.now());
      recordJoined(joined, f);
      if (!joined.ok) {
        if (joined.status === 404) feedbackUnmatched++;
        return sendError(res, joined.status, joined.reason);
      }
      return sendJson(res, 200, { requestId: f.requestId, agent: joined.agent, version: joined.version });
    }

    if (path === '/v1/logs') {
      if (req.method !== 'POST') return sendError(res, 405, 'use POST');
      if (refuseIngest(req, res)) return;
      return otlpLogs(req, res);
    }

    if (path.startsWith('/v1/admin/agents/')) {
      const auth = checkToken(req.headers.authorization);
      if (auth !== 'ok') {
        return sendJson(
          res,
          401,
          {
            error:
              auth === 'missing' ? 'admin API needs "Authorization: Bearer <token>"' : 'wrong admin token',
          },
          { 'www-authenticate': 'Bearer' },
        );
      }
      const parts = path.slice(17).split('/');
      const rt = agents.get(decode(parts[0]));
      if (!rt) {
        return sendError(
          res,
          404,
          `unknown agent ${shown(decode(parts[0]))} (configured: ${[...agents.keys()].join(', ')})`,
        );
      }
      return admin(rt, parts.slice(1).join('/'), query, req, res);
    }

    if (path === '/metrics' && req.method === 'GET') {
      const now = Date.now();
      const text = renderPrometheus(
        allSeries(),
        splits.all().map((s) => ({
          agent: s.agent,
          stable: s.stable,
          canary: canaryActive(s, now) ? s.canary : null,
          weight: canaryActive(s, now) ? s.canaryWeight : 0,
        })),
        { feedbackUnmatched },
      );
      const mirrors = [...agents.values()].flatMap((a) =>
        a.shadow ? [{ agent: a.config.name, mirror: a.shadow }] : [],
      );
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(mirrors.length > 0 ? text + renderShadowPrometheus(mirrors) : text);
      return;
    }
    if (path === '/healthz')
      return sendJson(res, 200, {
        ok: true,
        agents: agents.size,
        pendingFeedback: shared ? shared.queuedRequestCount : pending.size,
        ...(replication ? { replica: replication.status() } : {}),
      });
    return sendError(res, 404, `no route ${req.method} ${printable(path, 100)}`);
  }

  /**
   * OTLP/HTTP JSON logs: `gen_ai.evaluation.result` events joined to their requests as outcomes.
   * The answer is OTLP's: 200 with partialSuccess naming what was rejected and why.
   */
  async function otlpLogs(req: IncomingMessage, res: ServerResponse) {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/json')) {
      throw new BadRequest(415, 'send OTLP/HTTP JSON (content-type: application/json); protobuf is not read');
    }
    const parsed = ExportLogsSchema.safeParse(await readJson(req));
    if (!parsed.success) throw new BadRequest(400, zodReason(parsed.error));
    const { outcomes, rejected } = parseEvaluations(parsed.data, config.evaluationNames ?? {});
    for (const o of outcomes) {
      const joined = await joinEvaluated(o.requestId, o, 'feedback');
      if (!joined.ok) {
        if (joined.status === 404) feedbackUnmatched++;
        rejected.push(`${o.name}: ${joined.reason}`);
      }
    }
    return sendJson(
      res,
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
  }

  // One context for every proxied request (built at the first, when splits and pending are set).
  let proxyCtx: ProxyContext | undefined;
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A client that hung up mid-body is not the gateway's problem: nothing to answer, nothing to log.
      if (err instanceof ClientGone || res.destroyed) return;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof SplitRejected)
        return sendJson(res, err.status, { error: err.message, problems: err.problems });
      if (err instanceof BadRequest) {
        // An oversize body: answer, then close (the rest of the body is not read).
        return sendError(
          res,
          err.status,
          err.message,
          undefined,
          err.status === 413 ? { connection: 'close' } : {},
        );
      }
      log(`internal error on ${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
      sendError(res, 500, `internal error: ${(err as Error).message}`);
    });
  });

  // Requests Node's parser refuses (bad framing, unknown method, huge headers) get the same JSON
  // error shape as the gateway's own 400s, instead of a bare "400 Bad Request".
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || (err.code === 'ECONNRESET' && !socket.readable)) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
    const body = JSON.stringify({ error: tooLarge ? 'request headers too large' : 'malformed HTTP request' });
    socket.end(
      `HTTP/1.1 ${status}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const sweeper = setInterval(() => {
    const now = Date.now();
    pending.prune(now);
    splits.sweep(now).catch((err) => log(`lease sweep could not persist: ${String(err)}`));
  }, options.leaseSweepMs ?? 1000);
  sweeper.unref();

  // Finished seconds go to the journal once a second (and the current one at close), so a restart
  // or a lost replica loses at most the second in progress.
  let flushedUpTo = Math.floor(Date.now() / 1000) - 1;
  let journalWarned = 0;
  const flushMetrics = async (upTo: number) => {
    if (!journal) return;
    const records: SecondRecord[] = [];
    for (const s of series.values()) records.push(...s.secondsBetween(flushedUpTo, upTo));
    flushedUpTo = upTo;
    try {
      await journal.append(records);
      if (journal instanceof FileMetricsJournal && journal.needsCompaction) {
        await journal.compact(config.metrics.retentionMs, Date.now());
      }
    } catch (err) {
      if (Date.now() - journalWarned > 60_000) {
        journalWarned = Date.now();
        log(
          `could not keep metrics (${(err as Error).message}); they stay in memory and are lost on restart`,
        );
      }
    }
  };
  const journalTimer = setInterval(() => void flushMetrics(Math.floor(Date.now() / 1000) - 1), 1000);
  journalTimer.unref();
  const requestTimer = shared
    ? setInterval(() => {
        shared
          .flushRequests(config.feedback.ttlMs)
          .catch((err: Error) => log(`feedback join: ${err.message}`));
      }, 100)
    : undefined;
  requestTimer?.unref();
  const pruneTimer = shared
    ? setInterval(() => {
        shared
          .prune(Date.now(), config.metrics.retentionMs, config.feedback.ttlMs)
          .catch((err: Error) => log(`shared state prune: ${err.message}`));
      }, 60_000)
    : undefined;
  pruneTimer?.unref();

  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log(`gateway listening on ${url} (${agents.size} agent(s))`);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close() {
      closing ??= (async () => {
        clearInterval(sweeper);
        clearInterval(journalTimer);
        for (const rt of agents.values()) rt.evaluator?.close();
        for (const rt of agents.values()) rt.shadow?.close();
        if (requestTimer) clearInterval(requestTimer);
        if (pruneTimer) clearInterval(pruneTimer);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        for (const rt of agents.values()) for (const up of rt.upstreams.values()) await up.pool.destroy();
        await splits.flush();
        await flushMetrics(Math.floor(Date.now() / 1000));
        await journal?.close();
        if (shared) {
          await shared.flushRequests(config.feedback.ttlMs).catch(() => undefined);
          await replication?.stop();
          await shared.close().catch((err: Error) => log(`shared state close: ${err.message}`));
        }
      })();
      return closing;
    },
  };
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

/** Requests waiting for feedback, kept where every replica can join them. */
class SharedPending extends PendingRequests {
  constructor(
    private readonly shared: SharedState,
    ttlMs: number,
    private readonly maxQueued: number,
  ) {
    super(ttlMs, maxQueued);
  }

  override add(requestId: string, series: VersionSeries, now: number): boolean {
    // During a database outage the queue is bounded like the local table: the oldest go first.
    if (this.shared.queuedRequestCount < this.maxQueued) {
      this.shared.remember(requestId, series.agent, series.version, now, false, false);
    }
    return true;
  }
}

/** The metrics journal in the data dir, its records put back into the series they came from. */
async function openJournal(
  dataDir: string,
  retentionSeconds: number,
  series: Map<string, VersionSeries>,
  log: (line: string) => void,
): Promise<FileMetricsJournal> {
  try {
    const { journal, restored } = await FileMetricsJournal.open(
      dataDir,
      retentionSeconds * 1000,
      Date.now(),
      log,
    );
    for (const r of restored) series.get(`${r.agent}\u0000${r.version}`)?.absorb(r);
    if (restored.length > 0) log(`metrics: restored ${restored.length} second(s) from ${dataDir}`);
    return journal;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code ? `${e.code} on ${e.path ?? dataDir}` : e.message;
    throw new GatewayConfigError([
      { field: 'dataDir', message: `cannot keep metrics in ${dataDir}: ${why}` },
    ]);
  }
}

/** The split table over its store; a data dir that cannot be used is a configuration problem. */
async function openSplits(
  dataDir: string | undefined,
  config: GatewayConfig,
  log: (line: string) => void,
): Promise<SplitTable> {
  let splits: SplitTable;
  try {
    const store = dataDir ? new FileSplitStore(dataDir) : new MemorySplitStore();
    splits = new SplitTable(config.agents, store, log);
    await splits.init(Date.now());
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code ? `${e.code} on ${e.path ?? dataDir}` : e.message;
    throw new GatewayConfigError([{ field: 'dataDir', message: `cannot keep splits in ${dataDir}: ${why}` }]);
  }
  return splits;
}

function decode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
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

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveGatewayConfig, type GatewayConfig } from './config';
import { GatewayConfigError } from './config';
import { BadRequest, ClientGone, sendError, sendJson, tokenChecker } from './http-util';
import { AgentEvaluator } from './evaluator';
import { FileMetricsJournal, type MetricsJournal } from './metrics-journal';
import { VersionSeries, type SecondRecord } from './metrics-store';
import { PendingRequests, type JoinResult } from './pending';
import { makeUpstream, type AgentRuntime, type ProxyContext } from './proxy';
import { canaryActive } from './routing';
import { Replication } from './replication';
import { route } from './route-table';
import { gatewayRoutes, type GatewayContext } from './routes';
import { SharedState } from './shared-state';
import { FileSplitStore, MemorySplitStore, SharedSplitStore } from './split-store';
import { SplitRejected, SplitTable } from './splits';
import { ShadowMirror } from './shadow';

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
  const ctx: GatewayContext = {
    config,
    agents,
    series,
    splits,
    pending,
    shared,
    replication,
    log,
    metricsSince,
    proxy: {
      splits,
      pending,
      onUpstreamFailure: options.onUpstreamFailure,
      ...(config.usage !== false ? { usage: { modelPrices: config.modelPrices } } : {}),
    },
    checkAdmin: tokenChecker(options.adminToken),
    checkIngest:
      options.ingestToken === null ? undefined : tokenChecker(options.ingestToken ?? options.adminToken),
    counts: { feedbackUnmatched: 0 },
    join: joinEvaluated,
    recordJoined,
  };
  const routes = gatewayRoutes(ctx);

  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    (async () => route(routes, req, res))().catch((err: unknown) => {
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

// State shared by gateway replicas behind a load balancer, in PostgreSQL (docs/gateway.md, "Replicas"):
// the split per agent, which replica has applied which split, requests waiting for feedback, and
// every replica's finished seconds of metrics. Each replica still routes from memory: the database
// is read by a poller and on the feedback and metrics-query paths, never per proxied request.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import { z } from 'zod';
import { AppliedSplitSchema, type AppliedSplit } from '../router/types';
import { SecondRecordSchema, type SecondRecord } from './metrics-store';
import type { MetricsJournal } from './metrics-journal';
import type { JoinResult } from './pending';

export interface SharedStateOptions {
  /** postgres://user:password@host:port/db (the password is never printed). */
  url: string;
  /** Names this replica in the replicas table; default host-pid-random. */
  replicaId?: string;
  log?: (line: string) => void;
}

/** Without a heartbeat for this long a replica counts as gone: its split is no longer waited for. */
export const REPLICA_LIVE_MS = 3_000;

export class SharedStateError extends Error {
  override name = 'SharedStateError';
}

const SplitRow = z.object({ agent: z.string(), split: AppliedSplitSchema, seq: z.coerce.number() });

const SCHEMA = `
CREATE SEQUENCE IF NOT EXISTS agent_canary_split_seq;
CREATE TABLE IF NOT EXISTS agent_canary_splits (
  agent text PRIMARY KEY, split jsonb NOT NULL, decided_at bigint NOT NULL, seq bigint NOT NULL);
CREATE TABLE IF NOT EXISTS agent_canary_replicas (
  id text PRIMARY KEY, applied_seq bigint NOT NULL, seen_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS agent_canary_requests (
  request_id text PRIMARY KEY, agent text NOT NULL, version text NOT NULL, at bigint NOT NULL,
  got_task boolean NOT NULL, got_quality boolean NOT NULL);
CREATE INDEX IF NOT EXISTS agent_canary_requests_at ON agent_canary_requests (at);
CREATE TABLE IF NOT EXISTS agent_canary_metric_seconds (
  agent text NOT NULL, version text NOT NULL, second bigint NOT NULL, replica text NOT NULL,
  rec jsonb NOT NULL, PRIMARY KEY (agent, version, second, replica));
CREATE TABLE IF NOT EXISTS agent_canary_meta (key text PRIMARY KEY, value bigint NOT NULL);
`;
/** Replicas starting together must not race on CREATE TABLE IF NOT EXISTS (it is not atomic). */
const SCHEMA_LOCK = 0x61676e74;
const SPLIT_WRITE_LOCK = 0x61676e75;

/** Rows per INSERT of queued requests or metric seconds (each row is a few parameters). */
const BATCH_ROWS = 1_000;

export class SharedState {
  readonly replicaId: string;
  private readonly pool: pg.Pool;
  private readonly log: (line: string) => void;
  private queuedRequests: {
    id: string;
    agent: string;
    version: string;
    at: number;
    task: boolean;
    quality: boolean;
  }[] = [];
  private requestFlush: Promise<void> = Promise.resolve();
  metricsSince = 0;

  private constructor(pool: pg.Pool, replicaId: string, log: (line: string) => void) {
    this.pool = pool;
    this.replicaId = replicaId;
    this.log = log;
  }

  /** Connects, creates the tables when missing, and registers this replica. */
  static async open(options: SharedStateOptions): Promise<SharedState> {
    const where = describePostgres(options.url);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: 4,
      connectionTimeoutMillis: 5_000,
      // A query that hangs must not hold a feedback call or a split write forever.
      statement_timeout: 5_000,
      query_timeout: 6_000,
    });
    // An idle client's connection dropping (database restart) must not crash the gateway.
    pool.on('error', (err) => (options.log ?? (() => {}))(`shared state ${where}: ${err.message}`));
    const id = options.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const state = new SharedState(pool, id, options.log ?? (() => {}));
    try {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await client.query(SCHEMA);
        await client.query(
          `INSERT INTO agent_canary_meta (key, value) VALUES ('metrics_since', $1) ON CONFLICT DO NOTHING`,
          [Date.now()],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
      const since = await pool.query(`SELECT value FROM agent_canary_meta WHERE key = 'metrics_since'`);
      state.metricsSince = Number(since.rows[0].value);
      await state.heartbeat(0);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new SharedStateError(`shared state ${where}: ${(err as Error).message}`);
    }
    return state;
  }

  // --- splits ---------------------------------------------------------------------------------

  /** Every stored split, with the newest sequence number among them. */
  async splits(): Promise<{ splits: Map<string, AppliedSplit>; seq: number }> {
    const { rows } = await this.pool.query('SELECT agent, split, seq FROM agent_canary_splits');
    const splits = new Map<string, AppliedSplit>();
    let seq = 0;
    for (const row of rows) {
      const r = SplitRow.safeParse(row);
      if (!r.success) continue;
      splits.set(r.data.agent, r.data.split);
      seq = Math.max(seq, r.data.seq);
    }
    return { splits, seq };
  }

  /** Splits written after `seq`, oldest first. */
  async changesSince(seq: number): Promise<{ agent: string; split: AppliedSplit; seq: number }[]> {
    const { rows } = await this.pool.query(
      'SELECT agent, split, seq FROM agent_canary_splits WHERE seq > $1 ORDER BY seq',
      [seq],
    );
    return rows.flatMap((row) => {
      const r = SplitRow.safeParse(row);
      return r.success ? [r.data] : [];
    });
  }

  /**
   * Stores a split unless a newer decision is already there (the same fencing as one gateway: a
   * write without decidedAt, an operator's, always lands). Returns its sequence number, or the
   * split in place when this one was stale.
   */
  async writeSplit(split: AppliedSplit): Promise<{ seq: number } | { stale: AppliedSplit }> {
    const decided = split.decidedAt ?? 0;
    const client = await this.pool.connect();
    try {
      // Writers take turns, so sequence numbers commit in order: a reader that has seen seq N has
      // seen every write before it (its heartbeat may then say "applied up to N").
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SPLIT_WRITE_LOCK]);
      const { rows } = await client.query(
        `INSERT INTO agent_canary_splits (agent, split, decided_at, seq)
         VALUES ($1, $2, $3, nextval('agent_canary_split_seq'))
         ON CONFLICT (agent) DO UPDATE
           SET split = EXCLUDED.split, decided_at = EXCLUDED.decided_at, seq = EXCLUDED.seq
           WHERE EXCLUDED.decided_at = 0 OR agent_canary_splits.decided_at <= EXCLUDED.decided_at
         RETURNING seq`,
        [split.agent, JSON.stringify(split), decided],
      );
      const current =
        rows.length > 0
          ? undefined
          : await client.query('SELECT agent, split, seq FROM agent_canary_splits WHERE agent = $1', [
              split.agent,
            ]);
      await client.query('COMMIT');
      if (current) return { stale: SplitRow.parse(current.rows[0]).split };
      return { seq: Number(rows[0].seq) };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Says this replica is alive and has applied every split up to `appliedSeq`. */
  async heartbeat(appliedSeq: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO agent_canary_replicas (id, applied_seq, seen_at) VALUES ($1, $2, now())
       ON CONFLICT (id) DO UPDATE SET applied_seq = EXCLUDED.applied_seq, seen_at = now()`,
      [this.replicaId, appliedSeq],
    );
  }

  /** The live replicas (heartbeat within REPLICA_LIVE_MS, by the database's clock) and what they applied. */
  async liveReplicas(): Promise<{ id: string; appliedSeq: number }[]> {
    const { rows } = await this.pool.query(
      `SELECT id, applied_seq FROM agent_canary_replicas
       WHERE seen_at > now() - make_interval(secs => $1) ORDER BY id`,
      [REPLICA_LIVE_MS / 1000],
    );
    return rows.map((r: { id: string; applied_seq: string }) => ({
      id: r.id,
      appliedSeq: Number(r.applied_seq),
    }));
  }

  /** Leaves the replicas table, so writes stop waiting for this replica at once. */
  private async deregister(): Promise<void> {
    await this.pool.query('DELETE FROM agent_canary_replicas WHERE id = $1', [this.replicaId]);
  }

  // --- requests waiting for feedback --------------------------------------------------------------

  /** Queues a request for joining; written within the next flush (about 100 ms). */
  remember(id: string, agent: string, version: string, at: number, task: boolean, quality: boolean): void {
    this.queuedRequests.push({ id, agent, version, at, task, quality });
  }

  get queuedRequestCount(): number {
    return this.queuedRequests.length;
  }

  /** Writes queued requests; a request id already known and not expired keeps its first version. */
  flushRequests(ttlMs: number): Promise<void> {
    this.requestFlush = this.requestFlush.then(async () => {
      while (this.queuedRequests.length > 0) {
        const batch = this.queuedRequests.splice(0, BATCH_ROWS);
        // The same id twice in one statement is an error in PostgreSQL: the first one wins.
        const seen = new Set<string>();
        const rows = batch.filter((r) => !seen.has(r.id) && seen.add(r.id));
        await this.pool.query(
          `INSERT INTO agent_canary_requests (request_id, agent, version, at, got_task, got_quality)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::boolean[], $6::boolean[])
           ON CONFLICT (request_id) DO UPDATE
             SET agent = EXCLUDED.agent, version = EXCLUDED.version, at = EXCLUDED.at,
                 got_task = EXCLUDED.got_task, got_quality = EXCLUDED.got_quality
             WHERE agent_canary_requests.at < $7`,
          [
            rows.map((r) => r.id),
            rows.map((r) => r.agent),
            rows.map((r) => r.version),
            rows.map((r) => r.at),
            rows.map((r) => r.task),
            rows.map((r) => r.quality),
            Date.now() - ttlMs,
          ],
        );
      }
    });
    const run = this.requestFlush;
    this.requestFlush = run.catch(() => undefined);
    return run;
  }

  /**
   * Records feedback for a request any replica served, once per outcome kind. A miss is retried
   * once after `retryMs`: the replica that served the request may not have flushed it yet.
   */
  async join(
    requestId: string,
    taskSuccess: boolean | undefined,
    qualityScore: number | undefined,
    now: number,
    ttlMs: number,
    retryMs = 300,
  ): Promise<JoinResult> {
    const task = taskSuccess !== undefined;
    const quality = qualityScore !== undefined;
    // Served here and not written yet: write it now rather than wait for the other path's retry.
    if (this.queuedRequests.some((r) => r.id === requestId)) await this.flushRequests(ttlMs);
    let waited = false;
    for (let attempt = 0; attempt < 4; attempt++) {
      const updated = await this.pool.query(
        `UPDATE agent_canary_requests SET got_task = got_task OR $2, got_quality = got_quality OR $3
         WHERE request_id = $1 AND at >= $4 AND NOT ($2 AND got_task) AND NOT ($3 AND got_quality)
         RETURNING agent, version`,
        [requestId, task, quality, now - ttlMs],
      );
      if (updated.rows.length > 0) {
        const row = updated.rows[0] as { agent: string; version: string };
        return { ok: true, agent: row.agent, version: row.version };
      }
      const known = await this.pool.query(
        'SELECT got_task, got_quality FROM agent_canary_requests WHERE request_id = $1 AND at >= $2',
        [requestId, now - ttlMs],
      );
      if (known.rows.length > 0) {
        const row = known.rows[0] as { got_task: boolean; got_quality: boolean };
        // The row may have landed between the two statements: only a kind already recorded is a repeat.
        if ((task && row.got_task) || (quality && row.got_quality)) {
          const got = [row.got_task ? 'taskSuccess' : '', row.got_quality ? 'qualityScore' : ''].filter(
            Boolean,
          );
          return {
            ok: false,
            status: 409,
            reason: `feedback for requestId "${requestId}" was already recorded (${got.join(', ')})`,
          };
        }
        continue;
      }
      if (waited) break;
      waited = true;
      await new Promise((r) => setTimeout(r, retryMs));
    }
    return {
      ok: false,
      status: 404,
      reason: `unknown or expired requestId "${requestId}" (feedback is joined for ${Math.round(ttlMs / 1000)}s after the request)`,
    };
  }

  // --- metrics --------------------------------------------------------------------------------

  /** This replica's finished seconds, as a journal (the judge reads the sum over replicas). */
  journal(): MetricsJournal {
    return {
      since: this.metricsSince,
      append: (records) => this.appendSeconds(records),
      close: async () => {},
    };
  }

  private async appendSeconds(records: SecondRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += BATCH_ROWS) {
      const batch = records.slice(i, i + BATCH_ROWS);
      await this.pool.query(
        `INSERT INTO agent_canary_metric_seconds (agent, version, second, replica, rec)
         SELECT a, v, s, $4, r::jsonb FROM unnest($1::text[], $2::text[], $3::bigint[], $5::text[]) AS t(a, v, s, r)
         ON CONFLICT (agent, version, second, replica) DO UPDATE SET rec = EXCLUDED.rec`,
        [
          batch.map((r) => r.agent),
          batch.map((r) => r.version),
          batch.map((r) => r.second),
          this.replicaId,
          batch.map((r) => JSON.stringify(r)),
        ],
      );
    }
  }

  /** Every replica's seconds of one agent in [firstSecond, lastSecond]. */
  async seconds(agent: string, firstSecond: number, lastSecond: number): Promise<SecondRecord[]> {
    const { rows } = await this.pool.query(
      `SELECT rec FROM agent_canary_metric_seconds WHERE agent = $1 AND second >= $2 AND second <= $3`,
      [agent, firstSecond, lastSecond],
    );
    return rows.flatMap((row: { rec: unknown }) => {
      const r = SecondRecordSchema.safeParse(row.rec);
      return r.success ? [r.data] : [];
    });
  }

  /** Drops what is past retention (any replica may do it; it is idempotent). */
  async prune(now: number, retentionMs: number, feedbackTtlMs: number): Promise<void> {
    await this.pool.query('DELETE FROM agent_canary_metric_seconds WHERE second < $1', [
      Math.floor((now - retentionMs) / 1000),
    ]);
    await this.pool.query('DELETE FROM agent_canary_requests WHERE at < $1', [now - feedbackTtlMs]);
    await this.pool.query(`DELETE FROM agent_canary_replicas WHERE seen_at < now() - interval '1 hour'`);
  }

  async close(): Promise<void> {
    await this.requestFlush;
    await this.deregister().catch((err: Error) =>
      this.log(`could not leave the replicas table: ${err.message}`),
    );
    await this.pool.end();
  }
}

/** host:port/db of a PostgreSQL URL, for messages: never the user or the password. */
export function describePostgres(raw: string): string {
  try {
    const u = new URL(raw);
    return `postgres://${u.host}${u.pathname}`;
  } catch {
    return '(invalid postgres url)';
  }
}

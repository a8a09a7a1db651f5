// Shadow stage on the gateway (docs/shadow.md): every user is served by the stable; for the split's
// `shadow` percent of requests (whole conversations when they carry x-session-id) a copy of the
// request goes to the canary once the stable's answer has ended, marked `x-agent-canary-shadow: 1`.
// The canary's answer is read and dropped: it never reaches a user and never holds a user's stream.
// The copies are counted per version in their own series (errors, latency, tokens), and each pair
// of answers is judged by the agent's evaluator, blind and in both orders (src/analysis/preference.ts
// turns the pairs into the `preference` metric).
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import type { PairCounts } from '../analysis/preference';
import { MAX_LOSS_REASON_CHARS, type VersionMetrics } from '../metrics/types';
import { printable } from '../text/sanitize';
import type { AgentConfig } from './config';
import type { AgentEvaluator } from './evaluator';
import { Capture, answerText, requestText } from './evaluator-transcript';
import { VersionSeries } from './metrics-store';
import { costOf, type Price } from './price';
import { bucketOf } from './routing';
import { UsageReader } from './usage';

/** Marks a mirrored request: agents that honour it skip their side effects. */
export const SHADOW_HEADER = 'x-agent-canary-shadow';
/** Bytes kept of each side; a request longer than this is not mirrored (it could not be replayed whole). */
const MAX_CAPTURE = 256 * 1024;
/** Mirrored requests in flight at once; beyond it a mirror is skipped (and counted). */
const MAX_IN_FLIGHT = 64;
/** Pairs waiting for the evaluator, and pair judgements in flight (each is two calls). */
const MAX_PAIR_QUEUE = 1000;
const PAIR_CONCURRENCY = 2;
const MINUTE = 60_000;

/** What the evaluator returns for a pair: which answer is better, or a tie. */
export const PairVerdictSchema = z.object({
  better: z.enum(['A', 'B', 'tie']),
  reason: z.string().max(4000),
});
export const PAIR_JSON_SCHEMA = {
  type: 'object',
  properties: {
    better: { type: 'string', enum: ['A', 'B', 'tie'], description: 'the better answer, or tie' },
    reason: { type: 'string', description: 'one sentence' },
  },
  required: ['better', 'reason'],
  additionalProperties: false,
} as const;
/** The response_format name: local evaluators tell a pair request from a grading request by it. */
export const PAIR_FORMAT_NAME = 'preference';

const PAIR_INSTRUCTIONS =
  'You compare two answers (A and B) of an AI agent to the same request, against the rubric below. ' +
  'Say which is better, or tie when neither is. Reply with JSON only: ' +
  '{"better": "A" or "B" or "tie", "reason": one sentence}.';

/** Where the copy goes: the same subpath, query, method and end-to-end headers as the user's request. */
export interface ShadowTarget {
  sub: string;
  query: string;
  method: string;
  headers: Record<string, string | string[]>;
}

/** Counts of one minute of shadow traffic for one canary. */
interface MinuteCounts extends PairCounts {
  mirrored: number;
  skipped: number;
}

/** What the admin metrics answer carries about the shadow stage (src/metrics/gateway.ts reads it). */
export interface ShadowAnswer {
  /** The copies' metrics per version, counted apart from served traffic. */
  versions: Record<string, VersionMetrics>;
  /** Judged pairs for the canary asked for (`?canary=`), and copies sent or skipped. */
  pairs: PairCounts & { mirrored: number; skipped: number };
  /**
   * The evaluator's reasons for the canary's latest lost pairs in the window, newest last: only when the agent's
   * `evaluate.keepLossReasons` is above 0 (they may quote the user; absent when off).
   */
  lossReasons?: string[];
}

/** A request chosen for mirroring, captured as it streams to the stable. */
export class ShadowTap {
  readonly request = new Capture(MAX_CAPTURE);
  readonly stableAnswer = new Capture(MAX_CAPTURE);
  stableType: string | undefined;

  constructor(
    private readonly mirror: ShadowMirror,
    private readonly canary: string,
    private readonly target: ShadowTarget,
  ) {}

  /** The stable's answer ended and went to the user: now (after this turn of the loop) the copy. */
  finish(status: number): void {
    // An error answer has nothing to compare, and a request cut at the capture cannot be replayed.
    if (status >= 400 || this.request.truncated) {
      this.mirror.skip(this.canary);
      return;
    }
    setImmediate(() => void this.mirror.send(this, this.canary, this.target));
  }
}

export class ShadowMirror {
  /** Salted like the evaluator's sample, so clients cannot pick keys that get mirrored. */
  private readonly salt = randomUUID();
  private inFlight = 0;
  private readonly byMinute = new Map<number, Map<string, MinuteCounts>>();
  private readonly pairs: { canary: string; request: string; stable: string; candidate: string }[] = [];
  private judging = 0;
  private closed = false;
  /** Judged pairs per canary since start, for /metrics (counters never go down). */
  private readonly totals = new Map<string, PairCounts>();
  /**
   * Per canary, the latest `keepLossReasons` reasons of lost pairs, in memory only: never logged,
   * journaled or exported to Prometheus (they may quote the user).
   */
  private readonly lossReasons = new Map<string, { at: number; reason: string }[]>();
  /** Per version: the mirrored copies' series (the canary's, in practice). */
  readonly series = new Map<string, VersionSeries>();

  constructor(
    private readonly config: AgentConfig,
    private readonly upstreams: Map<string, { pool: Dispatcher; basePath: string; host: string }>,
    retentionSeconds: number,
    private readonly evaluator: AgentEvaluator | undefined,
    private readonly prices?: Map<string, Price>,
  ) {
    for (const v of config.versions.keys()) {
      this.series.set(v, new VersionSeries(config.name, v, retentionSeconds));
    }
  }

  /**
   * Whether this request is mirrored: a conversation as a whole by its salted bucket, a request
   * without a session key by a draw. Called only while a shadow share holds.
   */
  begin(
    canary: string,
    percent: number,
    sessionKey: string | undefined,
    target: ShadowTarget,
  ): ShadowTap | undefined {
    if (this.closed) return undefined;
    const point = sessionKey !== undefined ? bucketOf(this.salt, sessionKey) : Math.random() * 100;
    return point < percent ? new ShadowTap(this, canary, target) : undefined;
  }

  skip(canary: string): void {
    this.count(canary).skipped++;
  }

  private count(canary: string, now = Date.now()): MinuteCounts {
    const minute = Math.floor(now / MINUTE);
    let m = this.byMinute.get(minute);
    if (!m) {
      m = new Map();
      this.byMinute.set(minute, m);
      // A day of minutes at most.
      if (this.byMinute.size > 1440) this.byMinute.delete(this.byMinute.keys().next().value!);
    }
    let c = m.get(canary);
    if (!c) {
      c = { wins: 0, ties: 0, losses: 0, mirrored: 0, skipped: 0 };
      m.set(canary, c);
    }
    return c;
  }

  /** Sends the copy to the canary, reads its answer to the end, counts it and queues the pair. */
  async send(tap: ShadowTap, canary: string, target: ShadowTarget): Promise<void> {
    const up = this.upstreams.get(canary);
    const series = this.series.get(canary);
    if (!up || !series || this.closed) return;
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.count(canary).skipped++;
      return;
    }
    if (this.evaluator?.unavailable() !== undefined) {
      // At the evaluator's cap (or while it is down) a copy could not be judged: not sent.
      this.count(canary).skipped++;
      return;
    }
    this.inFlight++;
    this.count(canary).mirrored++;
    const started = performance.now();
    const headers: Record<string, string | string[]> = {
      ...target.headers,
      host: up.host,
      [SHADOW_HEADER]: '1',
    };
    headers[this.config.versionHeader] = canary;
    const id = headers['x-request-id'];
    if (typeof id === 'string') headers['x-request-id'] = `${id.slice(0, 120)}.shadow`;
    const answer = new Capture(MAX_CAPTURE);
    let status = 0;
    let reader: UsageReader | undefined;
    let type: string | undefined;
    try {
      const res = await up.pool.request({
        path: (up.basePath + target.sub || '/') + target.query,
        method: target.method as Dispatcher.HttpMethod,
        headers,
        // A request without a body (GET) is mirrored without one.
        body: tap.request.bytes().length > 0 ? tap.request.bytes() : null,
        headersTimeout: this.config.timeoutMs,
        bodyTimeout: this.config.timeoutMs,
      });
      status = res.statusCode;
      const h = res.headers as Record<string, string | string[]>;
      type = typeof h['content-type'] === 'string' ? h['content-type'] : undefined;
      reader = UsageReader.forAnswer(status, h, started);
      for await (const chunk of res.body) {
        answer.add(chunk as Buffer);
        reader?.push(chunk as Buffer);
      }
    } catch {
      series.recordRequest(performance.now() - started, true, Date.now());
      return;
    } finally {
      this.inFlight--;
    }
    const durationMs = performance.now() - started;
    series.recordRequest(durationMs, status >= 500, Date.now());
    const usage = reader?.finish();
    if (usage !== undefined) {
      const price = this.prices?.get(canary);
      const cost = price !== undefined ? costOf(usage, price) : undefined;
      series.recordAnswer({ usage, ...(cost !== undefined ? { cost } : {}), durationMs }, Date.now());
    }
    if (status >= 400 || !this.evaluator) return;
    if (this.pairs.length >= MAX_PAIR_QUEUE) {
      this.count(canary).skipped++;
      return;
    }
    this.pairs.push({
      canary,
      request: requestText(tap.request.bytes()),
      stable: answerText(tap.stableAnswer.bytes(), tap.stableType),
      candidate: answerText(answer.bytes(), type),
    });
    this.pump();
  }

  private pump(): void {
    while (this.judging < PAIR_CONCURRENCY && this.pairs.length > 0 && !this.closed) {
      const pair = this.pairs.shift()!;
      this.judging++;
      void this.judge(pair).finally(() => {
        this.judging--;
        this.pump();
      });
    }
  }

  /**
   * Both orders, blind (no version, no header): the canary wins when preferred in both, loses when
   * the stable is, and a disagreement (an evaluator that favours a position) is a tie.
   */
  private async judge(p: { canary: string; request: string; stable: string; candidate: string }) {
    const ab = await this.ask(p.request, p.stable, p.candidate);
    if (ab === undefined) return this.count(p.canary).skipped++;
    const ba = await this.ask(p.request, p.candidate, p.stable);
    if (ba === undefined) return this.count(p.canary).skipped++;
    const canaryFirst = ab.better === 'B' && ba.better === 'A';
    const stableFirst = ab.better === 'A' && ba.better === 'B';
    // The first order's reason: there the stable was "A" and the canary "B" (docs/shadow.md).
    if (stableFirst) this.keepLossReason(p.canary, ab.reason);
    const total = this.totals.get(p.canary) ?? { wins: 0, ties: 0, losses: 0 };
    this.totals.set(p.canary, total);
    for (const c of [this.count(p.canary), total]) {
      if (canaryFirst) c.wins++;
      else if (stableFirst) c.losses++;
      else c.ties++;
    }
  }

  /** Keeps the last `keepLossReasons` reasons, one line each and bounded; nothing when off. */
  private keepLossReason(canary: string, reason: string): void {
    const keep = this.config.evaluate?.keepLossReasons ?? 0;
    if (keep <= 0) return;
    const kept = this.lossReasons.get(canary) ?? [];
    kept.push({ at: Date.now(), reason: printable(reason.trim(), MAX_LOSS_REASON_CHARS) });
    if (kept.length > keep) kept.splice(0, kept.length - keep);
    this.lossReasons.set(canary, kept);
  }

  /** One order: the evaluator's verdict on A and B, or undefined when it gave none. */
  private async ask(
    request: string,
    a: string,
    b: string,
  ): Promise<z.infer<typeof PairVerdictSchema> | undefined> {
    const ev = this.evaluator!;
    const answer = await ev.ask(
      `${PAIR_INSTRUCTIONS}\n\nRubric:\n${ev.rubric}`,
      `Request:\n${request}\n\nAnswer A:\n${a}\n\nAnswer B:\n${b}`,
      { name: PAIR_FORMAT_NAME, schema: PAIR_JSON_SCHEMA },
    );
    if (!('content' in answer)) return undefined;
    const verdict = parsePairVerdict(answer.content);
    ev.answered(verdict !== undefined);
    return verdict;
  }

  /** Pairs judged and copies sent for `canary` in [since, until), at minute resolution. */
  pairsBetween(canary: string, since: number, until: number): ShadowAnswer['pairs'] {
    const out = { wins: 0, ties: 0, losses: 0, mirrored: 0, skipped: 0 };
    const first = Math.floor(since / MINUTE);
    const last = Math.ceil(until / MINUTE) - 1;
    for (const [minute, m] of this.byMinute) {
      if (minute < first || minute > last) continue;
      const c = m.get(canary);
      if (!c) continue;
      out.wins += c.wins;
      out.ties += c.ties;
      out.losses += c.losses;
      out.mirrored += c.mirrored;
      out.skipped += c.skipped;
    }
    return out;
  }

  pairTotals(canary: string): PairCounts {
    return this.totals.get(canary) ?? { wins: 0, ties: 0, losses: 0 };
  }

  answer(canary: string | null, since: number, until: number, now: number): ShadowAnswer {
    const versions: Record<string, VersionMetrics> = {};
    for (const [v, s] of this.series) versions[v] = s.query(since, until, now);
    const pairs =
      canary !== null
        ? this.pairsBetween(canary, since, until)
        : { wins: 0, ties: 0, losses: 0, mirrored: 0, skipped: 0 };
    const keep = this.config.evaluate?.keepLossReasons ?? 0;
    if (keep <= 0) return { versions, pairs };
    // Only losses within the window asked for: an earlier rollout of the same canary is not this one.
    const lossReasons = (canary !== null ? (this.lossReasons.get(canary) ?? []) : [])
      .filter((k) => k.at >= since && k.at < until)
      .map((k) => k.reason);
    return { versions, pairs, lossReasons };
  }

  /** Resolves once no copy is in flight and no pair waits (tests). */
  async drained(): Promise<void> {
    while (this.inFlight > 0 || this.judging > 0 || this.pairs.length > 0) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.closed = true;
    this.pairs.length = 0;
    this.lossReasons.clear();
  }
}

/** The pair verdict from the evaluator's message, or undefined for anything else. */
export function parsePairVerdict(content: string): z.infer<typeof PairVerdictSchema> | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(content.replace(/^\s*```(?:json)?\s*|\s*```\s*$/g, ''));
  } catch {
    return undefined;
  }
  const parsed = PairVerdictSchema.safeParse(doc);
  return parsed.success ? parsed.data : undefined;
}

/** Prometheus lines for the copies, under their own names (never summed into served traffic). */
export function renderShadowPrometheus(mirrors: { agent: string; mirror: ShadowMirror }[]): string {
  const out: string[] = [];
  const rows: string[][] = [[], [], []];
  for (const { agent, mirror } of mirrors) {
    for (const [version, s] of mirror.series) {
      if (s.requests === 0) continue;
      const l = `agent="${esc(agent)}",version="${esc(version)}"`;
      rows[0].push(`agent_canary_shadow_requests_total{${l}} ${s.requests}`);
      rows[1].push(`agent_canary_shadow_errors_total{${l}} ${s.errors}`);
      const p = mirror.pairTotals(version);
      for (const [outcome, n] of [
        ['win', p.wins],
        ['tie', p.ties],
        ['loss', p.losses],
      ] as const) {
        rows[2].push(`agent_canary_shadow_pairs_total{${l},outcome="${outcome}"} ${n}`);
      }
    }
  }
  const head = [
    ['agent_canary_shadow_requests_total', 'Requests mirrored to a version in a shadow stage.'],
    ['agent_canary_shadow_errors_total', 'Mirrored requests that failed (5xx or unreachable).'],
    ['agent_canary_shadow_pairs_total', 'Shadow pairs judged for a canary, by outcome (blind, both orders).'],
  ];
  head.forEach(([name, help], i) => {
    if (rows[i].length === 0) return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, ...rows[i]);
  });
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

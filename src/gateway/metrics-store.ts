// Per agent and version: what happened, second by second (for time-range queries by the judge), and
// cumulative totals (for Prometheus scrapes). Recording is a few increments and one Map update.
import { z } from 'zod';
import type { VersionMetrics } from '../metrics/types';
import { ConversationCounters } from './conversations';
import { CONVERSATION_SERIES } from '../metrics/conversation-series';
import {
  FINE_BOUNDS,
  FINE_TO_PROM,
  PROM_BOUNDS_MS,
  PROM_QUALITY_BOUNDS,
  fineIndex,
  qualityKey,
  quantile,
  roundMs,
  toPairs,
} from './histogram';
import {
  SignalAgg,
  SignalRecordSchema,
  SignalTotals,
  renderSignals,
  type AnswerSignals,
} from './signals-store';

/**
 * What happened in one second (a slot) or one whole minute (the sum of its 60 slots, built once the
 * minute is over, so a query over hours adds a few hundred minutes instead of 21,600 seconds).
 * Histogram maps are bounded: latency by the fine bucket scheme, quality by `qualityKey`.
 */
class Agg {
  requests = 0;
  errors = 0;
  latencyCount = 0;
  latency = new Map<number, number>();
  successes = 0;
  taskTotal = 0;
  qualityCount = 0;
  qualitySum = 0;
  quality = new Map<number, number>();
  /** The answers' signals (tokens, cost, TTFT...), when any answer in it said some. */
  sig: SignalAgg | null = null;
  /** The second (slots) or the minute (minute aggregates) this covers. */
  constructor(public key: number) {}

  add(o: Agg): void {
    this.requests += o.requests;
    this.errors += o.errors;
    this.latencyCount += o.latencyCount;
    this.successes += o.successes;
    this.taskTotal += o.taskTotal;
    this.qualityCount += o.qualityCount;
    this.qualitySum += o.qualitySum;
    for (const [k, n] of o.latency) this.latency.set(k, (this.latency.get(k) ?? 0) + n);
    for (const [k, n] of o.quality) this.quality.set(k, (this.quality.get(k) ?? 0) + n);
    if (o.sig !== null) (this.sig ??= new SignalAgg()).add(o.sig);
  }
}

const Count = z.number().int().nonnegative();
const Pairs = z.array(z.tuple([z.number().int().nonnegative(), Count])).max(10_000);

/**
 * One finished second of one version, as the metrics journal keeps it (a file for one gateway, a
 * shared table for replicas). Latency keys are indices of the fine bucket scheme (FINE_BOUNDS), so
 * the journal's format number must change when that scheme does.
 */
export const SecondRecordSchema = z.object({
  agent: z.string().min(1).max(200),
  version: z.string().min(1).max(200),
  second: z.number().int().nonnegative(),
  requests: Count,
  errors: Count,
  latencyCount: Count,
  latency: Pairs,
  successes: Count,
  taskTotal: Count,
  qualityCount: Count,
  qualitySum: z.number().finite(),
  quality: z.array(z.tuple([z.number().finite(), Count])).max(10_000),
  /** The answers' signals; absent in seconds without a readable answer and in older journals. */
  signals: SignalRecordSchema.optional(),
});
export type SecondRecord = z.infer<typeof SecondRecordSchema>;

function aggOf(r: SecondRecord): Agg {
  const a = new Agg(r.second);
  a.requests = r.requests;
  a.errors = r.errors;
  a.latencyCount = r.latencyCount;
  a.successes = r.successes;
  a.taskTotal = r.taskTotal;
  a.qualityCount = r.qualityCount;
  a.qualitySum = r.qualitySum;
  for (const [k, n] of r.latency) a.latency.set(k, n);
  for (const [k, n] of r.quality) a.quality.set(k, n);
  if (r.signals !== undefined) a.sig = SignalAgg.of(r.signals);
  return a;
}

/** What the judge reads, from an aggregate (a series' window, or records summed over replicas). */
function metricsOf(version: string, sum: Agg): VersionMetrics {
  const latencyHist = toPairs(sum.latency, (i) => roundMs(FINE_BOUNDS[i]));
  return {
    version,
    requests: sum.requests,
    errors: sum.errors,
    latencyMs: {
      count: sum.latencyCount,
      p50: quantile(latencyHist, sum.latencyCount, 0.5),
      p99: quantile(latencyHist, sum.latencyCount, 0.99),
      histogram: latencyHist,
    },
    taskSuccess: { successes: sum.successes, total: sum.taskTotal },
    quality: { count: sum.qualityCount, sum: sum.qualitySum, histogram: toPairs(sum.quality, (k) => k) },
    ...(sum.sig !== null ? { signals: sum.sig.metrics() } : {}),
  };
}

/** The sum of journal records of one version (e.g. every replica's seconds inside a window). */
export function metricsFromRecords(version: string, records: Iterable<SecondRecord>): VersionMetrics {
  const sum = new Agg(0);
  for (const r of records) sum.add(aggOf(r));
  return metricsOf(version, sum);
}

export interface Outcome {
  taskSuccess?: boolean;
  qualityScore?: number;
  /** Graded by the gateway's online evaluator (counted apart for /metrics). */
  fromEvaluator?: boolean;
}

/** Aggregate levels above the second: minutes and hours, each the sum of its finished units. */
const SPANS = [60, 3600];

export class VersionSeries {
  /** Seconds kept (the retention); the rings below are allocated with the first request. */
  private readonly size: number;
  // Null until the version sees traffic: a gateway for a thousand agents holds two thousand versions,
  // most idle, and a ring of 21,600 seconds each would take 350 MB for nothing.
  private ring: (Agg | undefined)[] | null = null;
  /** Per level (SPANS), a ring of finished units keyed by unit number (second / span). */
  private levels: (Agg | undefined)[][] | null = null;
  /** Per level, the unit of the newest slot; units before it are finished and may be folded. */
  private readonly open: number[] = SPANS.map(() => -1);
  // Cumulative since start, for /metrics.
  requests = 0;
  errors = 0;
  latencyCount = 0;
  latencySumMs = 0;
  readonly latencyBuckets = new Float64Array(PROM_BOUNDS_MS.length + 1);
  successes = 0;
  taskTotal = 0;
  qualityCount = 0;
  qualitySum = 0;
  readonly qualityBuckets = new Float64Array(PROM_QUALITY_BOUNDS.length + 1);
  /** Outcomes (of the ones above) that the online evaluator gave. */
  evaluatorOutcomes = 0;
  /** The answers' signals since start, for /metrics. */
  readonly signalTotals = new SignalTotals();
  /** Per-conversation counters (fed by the proxy and the feedback join, which know the session). */
  readonly conversations: ConversationCounters;

  constructor(
    readonly agent: string,
    readonly version: string,
    retentionSeconds: number,
  ) {
    this.size = Math.max(2, retentionSeconds);
    this.conversations = new ConversationCounters(retentionSeconds);
  }

  private slot(now: number): Agg {
    const second = Math.floor(now / 1000);
    const ring = (this.ring ??= new Array<Agg | undefined>(this.size));
    const levels = (this.levels ??= SPANS.map((span) => new Array(Math.ceil(this.size / span) + 2)));
    const i = second % this.size;
    let s = ring[i];
    if (s === undefined || s.key !== second) {
      s = new Agg(second);
      ring[i] = s;
      // Finer levels first: an hour is the sum of its minutes.
      for (let l = 0; l < SPANS.length; l++) {
        const unit = Math.floor(second / SPANS[l]);
        if (unit > this.open[l]) {
          if (this.open[l] >= 0) this.fold(l, this.open[l]);
          this.open[l] = unit;
        }
      }
    }
    // The clock stepped back into a unit already folded: that sum is stale now.
    for (let l = 0; l < SPANS.length; l++) {
      const unit = Math.floor(second / SPANS[l]);
      if (unit < this.open[l]) levels[l][unit % levels[l].length] = undefined;
    }
    return s;
  }

  /** Sums a finished unit of level l (once per unit, off the request path). */
  private fold(l: number, unit: number): void {
    const agg = new Agg(unit);
    const span = SPANS[l];
    const sub = l === 0 ? 1 : SPANS[l - 1];
    for (let sec = unit * span; sec < (unit + 1) * span; sec += sub) {
      const part = l === 0 ? this.second(sec) : this.unit(l - 1, sec / sub);
      if (part !== undefined) agg.add(part);
      else if (l > 0) this.addSeconds(agg, sec, sec + sub - 1);
    }
    const ring = this.levels![l];
    ring[unit % ring.length] = agg;
  }

  private second(sec: number): Agg | undefined {
    const s = this.ring?.[sec % this.size];
    return s !== undefined && s.key === sec ? s : undefined;
  }

  private unit(l: number, unit: number): Agg | undefined {
    const ring = this.levels?.[l];
    const m = ring?.[unit % ring.length];
    return m !== undefined && m.key === unit ? m : undefined;
  }

  private addSeconds(into: Agg, first: number, last: number): void {
    for (let sec = first; sec <= last; sec++) {
      const s = this.second(sec);
      if (s !== undefined) into.add(s);
    }
  }

  /**
   * The seconds after `after` up to and including `upTo` that saw anything, for the journal. A
   * second is final once it is over: requests and outcomes are counted in the second they end in.
   */
  secondsBetween(after: number, upTo: number): SecondRecord[] {
    const out: SecondRecord[] = [];
    if (this.ring === null) return out;
    for (let sec = Math.max(after + 1, upTo - this.size + 1); sec <= upTo; sec++) {
      const s = this.second(sec);
      if (s === undefined) continue;
      out.push({
        agent: this.agent,
        version: this.version,
        second: sec,
        requests: s.requests,
        errors: s.errors,
        latencyCount: s.latencyCount,
        latency: [...s.latency],
        successes: s.successes,
        taskTotal: s.taskTotal,
        qualityCount: s.qualityCount,
        qualitySum: s.qualitySum,
        quality: [...s.quality],
        ...(s.sig !== null ? { signals: s.sig.toRecord() } : {}),
      });
    }
    return out;
  }

  /**
   * Adds a journal record back into the window (a restart reading what it had written). Only the
   * window is restored: the Prometheus counters restart at zero, which Prometheus reads as a reset.
   */
  absorb(r: SecondRecord): void {
    this.slot(r.second * 1000).add(aggOf(r));
  }

  /** One request: latency in ms (undefined when unknown, e.g. a client-reported outcome without it). */
  recordRequest(latencyMs: number | undefined, error: boolean, now: number): void {
    const s = this.slot(now);
    s.requests++;
    this.requests++;
    if (error) {
      s.errors++;
      this.errors++;
    }
    if (latencyMs !== undefined) {
      const i = fineIndex(latencyMs);
      s.latency.set(i, (s.latency.get(i) ?? 0) + 1);
      s.latencyCount++;
      this.latencyCount++;
      this.latencySumMs += latencyMs;
      this.latencyBuckets[FINE_TO_PROM[i]]++;
    }
  }

  /** What a readable answer said (usage.ts), counted in the second it ended in. */
  recordAnswer(a: AnswerSignals, now: number): void {
    const s = this.slot(now);
    (s.sig ??= new SignalAgg()).record(a);
    this.signalTotals.record(a);
  }

  /** The cost of a request whose task succeeded, counted when the second of the two is known. */
  recordSuccessCost(cost: number, now: number): void {
    (this.slot(now).sig ??= new SignalAgg()).recordSuccessCost(cost);
    this.signalTotals.all.recordSuccessCost(cost);
  }

  /** Outcomes count when they arrive, like a Prometheus counter, so both backends agree. */
  recordOutcome(o: Outcome, now: number): void {
    const s = this.slot(now);
    if (o.fromEvaluator) this.evaluatorOutcomes++;
    if (o.taskSuccess !== undefined) {
      s.taskTotal++;
      this.taskTotal++;
      if (o.taskSuccess) {
        s.successes++;
        this.successes++;
      }
    }
    if (o.qualityScore !== undefined) {
      const q = o.qualityScore;
      s.qualityCount++;
      s.qualitySum += q;
      const k = qualityKey(q);
      s.quality.set(k, (s.quality.get(k) ?? 0) + 1);
      this.qualityCount++;
      this.qualitySum += q;
      let b = 0;
      while (b < PROM_QUALITY_BOUNDS.length && q > PROM_QUALITY_BOUNDS[b]) b++;
      this.qualityBuckets[b]++;
    }
  }

  /**
   * An outcome counted in its request's second (judge v4: a window compares outcomes of its own
   * requests, however late each arrives), or now when that second has left the retention. The
   * Prometheus counters still count on arrival; so do seconds already written to a journal.
   */
  recordOutcomeAt(o: Outcome, requestAt: number, now: number): number {
    const at = requestAt <= now && now - requestAt < (this.size - 1) * 1000 ? requestAt : now;
    this.recordOutcome(o, at);
    return at;
  }

  /** Aggregate over [since, until) at one-second resolution (a second counts when it starts inside). */
  query(since: number, until: number, now: number): VersionMetrics {
    const nowSecond = Math.floor(now / 1000);
    const first = Math.max(Math.floor(since / 1000), nowSecond - this.size + 1);
    const last = Math.min(Math.ceil(until / 1000) - 1, nowSecond);
    const sum = new Agg(0);
    next: for (let sec = first; sec <= last;) {
      // Whole finished hours, then minutes, inside the range come from their aggregates.
      for (let l = SPANS.length - 1; l >= 0; l--) {
        const span = SPANS[l];
        if (sec % span !== 0 || sec + span - 1 > last) continue;
        const agg = this.unit(l, sec / span);
        if (agg === undefined) continue;
        sum.add(agg);
        sec += span;
        continue next;
      }
      const s = this.second(sec);
      if (s !== undefined) sum.add(s);
      sec++;
    }
    return this.withConversations(metricsOf(this.version, sum), since, until, now);
  }

  /** Adds the per-conversation counts of the same range (absent while none were counted). */
  private withConversations(m: VersionMetrics, since: number, until: number, now: number): VersionMetrics {
    const c = this.conversations.query(since, until, now);
    // Long-lived sessions bring no new conversation into a window but still their sums of squares.
    return c.count > 0 || c.requestsSq > 0 ? { ...m, conversations: c } : m;
  }
}

/** Prometheus text exposition of every series (names documented in the gateway README section). */
export function renderPrometheus(
  series: Iterable<VersionSeries>,
  splits: { agent: string; canary: string | null; weight: number; stable: string }[],
  extra: { feedbackUnmatched: number },
): string {
  const all = [...series];
  const out: string[] = [];
  const labels = (s: VersionSeries) => `agent="${esc(s.agent)}",version="${esc(s.version)}"`;
  const counter = (name: string, help: string, value: (s: VersionSeries) => number) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const s of all) out.push(`${name}{${labels(s)}} ${value(s)}`);
  };
  counter('agent_canary_requests_total', 'Requests per agent version.', (s) => s.requests);
  counter('agent_canary_errors_total', 'Failed requests (upstream 5xx or unreachable).', (s) => s.errors);
  counter('agent_canary_task_success_total', 'Outcomes reporting task success.', (s) => s.successes);
  counter(
    'agent_canary_task_outcomes_total',
    'Outcomes reporting task success or failure.',
    (s) => s.taskTotal,
  );
  for (const c of CONVERSATION_SERIES) {
    const field = c.field;
    counter(c.name, c.help, (s) => s.conversations.total()[field]);
  }
  counter(
    'agent_canary_evaluator_outcomes_total',
    'Outcomes graded by the online evaluator (quality score and task outcome of one request).',
    (s) => s.evaluatorOutcomes,
  );

  const histogram = (
    name: string,
    help: string,
    bounds: number[],
    scale: number,
    buckets: (s: VersionSeries) => Float64Array,
    sum: (s: VersionSeries) => number,
    count: (s: VersionSeries) => number,
  ) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    const les = bounds.map((b) => String(Number((b * scale).toPrecision(6))));
    for (const s of all) {
      const l = labels(s);
      const b = buckets(s);
      let cum = 0;
      for (let i = 0; i < les.length; i++) {
        cum += b[i];
        out.push(`${name}_bucket{${l},le="${les[i]}"} ${cum}`);
      }
      out.push(`${name}_bucket{${l},le="+Inf"} ${count(s)}`);
      out.push(`${name}_sum{${l}} ${sum(s)}`, `${name}_count{${l}} ${count(s)}`);
    }
  };
  histogram(
    'agent_canary_request_duration_seconds',
    'Time from request to the end of the upstream response.',
    PROM_BOUNDS_MS,
    0.001,
    (s) => s.latencyBuckets,
    (s) => s.latencySumMs / 1000,
    (s) => s.latencyCount,
  );
  histogram(
    'agent_canary_quality_score',
    'Quality scores from feedback and outcomes.',
    PROM_QUALITY_BOUNDS,
    1,
    (s) => s.qualityBuckets,
    (s) => s.qualitySum,
    (s) => s.qualityCount,
  );

  out.push(
    '# HELP agent_canary_canary_weight Percent of traffic routed to the canary now.',
    '# TYPE agent_canary_canary_weight gauge',
  );
  for (const sp of splits) out.push(`agent_canary_canary_weight{agent="${esc(sp.agent)}"} ${sp.weight}`);
  out.push(
    '# HELP agent_canary_split_info Current stable and canary version per agent.',
    '# TYPE agent_canary_split_info gauge',
  );
  for (const sp of splits) {
    out.push(
      `agent_canary_split_info{agent="${esc(sp.agent)}",stable="${esc(sp.stable)}",canary="${esc(sp.canary ?? '')}"} 1`,
    );
  }
  out.push(
    '# HELP agent_canary_feedback_unmatched_total Feedback refused: unknown or expired request id.',
    '# TYPE agent_canary_feedback_unmatched_total counter',
    `agent_canary_feedback_unmatched_total ${extra.feedbackUnmatched}`,
  );
  out.push(...renderSignals(all, esc));
  return out.join('\n') + '\n';
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

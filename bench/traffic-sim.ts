// Conversation traffic for the judge benchmark: conversations drawn from a TrafficModel
// (bench/traffic.ts), routed as the gateway routes them (a sticky hash bucket against the canary's
// weight, so raising the weight moves the conversations of the buckets in between), and counted per
// version exactly as the gateway counts them, the per-conversation counters included.
import type { Histogram, MetricsWindow, VersionMetrics } from '../src/metrics/types';
import { histogramQuantile } from '../src/analysis/values';
import {
  CONVERSATION_SUM_FIELDS,
  countOutcome,
  countRequest,
  type ConversationState,
} from '../src/gateway/conversations';
import {
  HEALTHY,
  LATENCY_BOUNDS,
  QUALITY_VALUES,
  seedOf,
  simulateRollout,
  summarize,
  type Outcome,
  type Rng,
  type Summary,
  type TrafficSource,
} from './judge-sim';
import type { TrafficModel, TrafficRollout, Turn, VersionName } from './traffic';

const MIN = 60_000;
/** Turns later than this after the rollout's start are never served (the deadline is 6 h). */
const HORIZON_MS = 8 * 3_600_000;

/** What the gateway keeps per conversation and version, counted by its own functions. */
type ConvState = ConversationState;
const newState = (): ConvState => ({ req: 0, err: 0, out: 0, fail: 0, maxIdx: -1, qS: 0, qN: 0 });

interface Conversation {
  u: number;
  states: [ConvState | null, ConvState | null];
  /** The stage its states belong to: the gateway starts every conversation afresh at a new split. */
  stage?: number;
}

function latencyIndex(ms: number): number {
  let lo = 0;
  let hi = LATENCY_BOUNDS.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (LATENCY_BOUNDS[mid] >= ms) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** One version's counts over a window, as the gateway's metrics API reports them. */
class Counts {
  requests = 0;
  errors = 0;
  latency = new Float64Array(LATENCY_BOUNDS.length);
  successes = 0;
  taskTotal = 0;
  quality = new Float64Array(QUALITY_VALUES.length);
  qualitySum = 0;
  qualityCount = 0;
  // Per conversation (see ConversationCountsSchema).
  count = 0;
  errored = 0;
  cleanRequests = 0;
  requestsSq = 0;
  errorsSq = 0;
  errorsRequests = 0;
  tasked = 0;
  failedTask = 0;
  cleanOutcomes = 0;
  failuresSq = 0;
  failuresOutcomes = 0;
  outcomesSq = 0;
  slowest = new Float64Array(LATENCY_BOUNDS.length);
  qualitySq = 0;
  qualityCross = 0;
  qualityCountSq = 0;
  errorRateSum = 0;
  errorRateSq = 0;
  failureRateSum = 0;
  failureRateSq = 0;
  scored = 0;
  qualityMeanSum = 0;
  qualityMeanSq = 0;

  /** A request, counted into each of `into` (the stage's window, its minute), then the state moves on. */
  static request(into: Counts[], st: ConvState, error: boolean, latencyMs: number): void {
    const idx = latencyIndex(latencyMs);
    for (const c of into) {
      c.requests++;
      c.latency[idx]++;
      if (error) c.errors++;
      countRequest(c, st, error);
      if (idx > st.maxIdx) {
        c.slowest[idx]++;
        if (st.maxIdx >= 0) c.slowest[st.maxIdx]--;
      }
    }
    st.req++;
    if (error) st.err++;
    if (idx > st.maxIdx) st.maxIdx = idx;
  }

  /** An outcome, counted into each of `into`, then the state moves on (see request). */
  static outcome(into: Counts[], st: ConvState, turn: Turn): void {
    if (turn.taskSuccess !== undefined) {
      for (const c of into) {
        c.taskTotal++;
        if (turn.taskSuccess) c.successes++;
        countOutcome(c, st, { taskSuccess: turn.taskSuccess });
      }
      st.out++;
      if (!turn.taskSuccess) st.fail++;
    }
    if (turn.quality !== undefined) {
      const q = Math.round(turn.quality * 50) / 50;
      for (const c of into) {
        c.quality[Math.round(q * 50)]++;
        c.qualitySum += q;
        c.qualityCount++;
        countOutcome(c, st, { qualityScore: q });
      }
      st.qS += q;
      st.qN++;
    }
  }

  /** Adds another range's counts (every field is a sum of increments, as the gateway's seconds). */
  add(o: Counts): void {
    for (const k of SCALARS) this[k] += o[k];
    for (const k of ARRAYS) {
      const a = this[k];
      const b = o[k];
      for (let i = 0; i < a.length; i++) a[i] += b[i];
    }
  }

  toMetrics(version: string): VersionMetrics {
    const lh: Histogram = [];
    this.latency.forEach((c, i) => c > 0 && lh.push([LATENCY_BOUNDS[i], c]));
    const qh: Histogram = [];
    this.quality.forEach((c, i) => c > 0 && qh.push([QUALITY_VALUES[i], c]));
    const slowest: [number, number][] = [];
    this.slowest.forEach((c, i) => c !== 0 && slowest.push([LATENCY_BOUNDS[i], c]));
    return {
      version,
      requests: this.requests,
      errors: this.errors,
      latencyMs: {
        count: this.requests,
        p50: histogramQuantile(lh, 0.5),
        p99: histogramQuantile(lh, 0.99),
        histogram: lh,
      },
      taskSuccess: { successes: this.successes, total: this.taskTotal },
      quality: { count: this.qualityCount, sum: this.qualitySum, histogram: qh },
      conversations: {
        count: this.count,
        errored: this.errored,
        cleanRequests: this.cleanRequests,
        requestsSq: this.requestsSq,
        errorsSq: this.errorsSq,
        errorsRequests: this.errorsRequests,
        tasked: this.tasked,
        failedTask: this.failedTask,
        cleanOutcomes: this.cleanOutcomes,
        failuresSq: this.failuresSq,
        failuresOutcomes: this.failuresOutcomes,
        outcomesSq: this.outcomesSq,
        slowest,
        qualitySq: this.qualitySq,
        qualityCross: this.qualityCross,
        qualityCountSq: this.qualityCountSq,
        errorRateSum: this.errorRateSum,
        errorRateSq: this.errorRateSq,
        failureRateSum: this.failureRateSum,
        failureRateSq: this.failureRateSq,
        scored: this.scored,
        qualityMeanSum: this.qualityMeanSum,
        qualityMeanSq: this.qualityMeanSq,
      },
    };
  }
}

const SCALARS = [
  'requests',
  'errors',
  'successes',
  'taskTotal',
  'qualitySum',
  'qualityCount',
  ...CONVERSATION_SUM_FIELDS,
] as const;
const ARRAYS = ['latency', 'quality', 'slowest'] as const;

/**
 * The gateway's view of requests older than the feedback horizon: counts kept per minute of the
 * request (outcomes included, however late), summed over [stage start - horizon, now - horizon),
 * as the check's second read (src/metrics/settled.ts). Minutes, not seconds: a simulation's grain.
 */
class Settled {
  private readonly minutes: [Counts, Counts][] = [];
  private sum: [Counts, Counts] = [new Counts(), new Counts()];
  private from = 0;
  private to = 0;

  /** The minute's counts of a version, and the running sum's when that minute is already in it. */
  targets(reqMs: number, v: 0 | 1): Counts[] {
    const m = Math.floor(reqMs / MIN);
    const minute = (this.minutes[m] ??= [new Counts(), new Counts()])[v];
    return m >= this.from && m < this.to ? [minute, this.sum[v]] : [minute];
  }

  window(stageStart: number, now: number, horizonMs: number): [Counts, Counts] {
    const from = Math.max(0, Math.floor((stageStart - horizonMs) / MIN));
    const to = Math.max(from, Math.floor((now - horizonMs) / MIN));
    if (from !== this.from || to < this.to) {
      this.sum = [new Counts(), new Counts()];
      this.from = from;
      this.to = from;
    }
    for (; this.to < to; this.to++) {
      const m = this.minutes[this.to];
      if (!m) continue;
      this.sum[0].add(m[0]);
      this.sum[1].add(m[1]);
    }
    return this.sum;
  }
}

interface Event {
  conv: Conversation;
  turn: Turn;
  /** The request's time; for outcomes, the version that served it. */
  reqMs: number;
  outcomeOf?: 0 | 1;
}

export interface ConversationOptions {
  /** Where outcomes count: in their request's window (the gateway since judge v4) or on arrival. */
  outcomesAt?: 'request' | 'arrival';
  /** Drop the conversation counts, as a source without them (Prometheus without the series). */
  noConversations?: boolean;
}

/** A TrafficSource for the policy simulation (judge-sim simulatePolicy). */
export class ConversationTraffic implements TrafficSource {
  canaryRequests = 0;
  private counts: [Counts, Counts] = [new Counts(), new Counts()];
  private stageStart = 0;
  private readonly buckets: Event[][] = [];
  private nextMinute = 0;
  private readonly r: TrafficRollout;

  constructor(
    private readonly model: TrafficModel,
    private readonly rps: number,
    private readonly rng: Rng,
    private readonly options: ConversationOptions = {},
  ) {
    this.r = model.rollout(rng);
    if (options.outcomesAt !== 'arrival') this.settled = new Settled();
  }

  private stage = 0;
  /** Per-minute counts for the feedback horizon's read (absent where outcomes count on arrival). */
  private readonly settled?: Settled;

  newStage(now: number): void {
    this.counts = [new Counts(), new Counts()];
    this.stageStart = now;
    this.stage++;
  }

  /** A conversation's states in this stage (src/gateway/conversations.ts newStage). */
  private statesOf(conv: Conversation): [ConvState | null, ConvState | null] {
    if (conv.stage !== this.stage) {
      conv.stage = this.stage;
      conv.states = [null, null];
    }
    return conv.states;
  }

  window(now = 0, horizonMs?: number): MetricsWindow {
    const [s, c] = this.counts;
    const strip = (m: VersionMetrics) => {
      if (this.options.noConversations) delete m.conversations;
      return m;
    };
    const w: MetricsWindow = {
      agent: 'sim',
      since: this.stageStart,
      until: now,
      stable: strip(s.toMetrics('stable')),
      canary: strip(c.toMetrics('canary')),
    };
    if (horizonMs === undefined) return w;
    // As the check's second read: only a source that counts outcomes at request time can give it.
    if (this.options.outcomesAt === 'arrival') {
      return { ...w, settled: { horizonMs, unavailable: 'the simulated source counts outcomes on arrival' } };
    }
    const [ss, sc] = this.settled!.window(this.stageStart, now, horizonMs);
    return {
      ...w,
      settled: {
        horizonMs,
        since: this.stageStart - horizonMs,
        until: now - horizonMs,
        stable: strip(ss.toMetrics('stable')),
        canary: strip(sc.toMetrics('canary')),
      },
    };
  }

  private push(at: number, e: Event): void {
    if (at >= HORIZON_MS) return;
    const m = Math.floor(at / MIN);
    (this.buckets[m] ??= []).push(e);
  }

  /** Everything that happens in [now, now + ms) at the canary's weight `percent`. */
  serve(ms: number, percent: number, now: number): void {
    const end = now + ms;
    const w = percent / 100;
    const rng = this.rng;
    for (; this.nextMinute * MIN < end; this.nextMinute++) {
      const m = this.nextMinute;
      const t0 = m * MIN;
      const load = this.r.load ? this.r.load(t0) : 1;
      const starts = rng.poisson((this.rps * 60 * load) / this.model.meanTurns);
      for (let i = 0; i < starts; i++) {
        const start = t0 + rng.uniform() * MIN;
        const u = rng.uniform();
        const version: VersionName = u < w ? 'canary' : 'stable';
        const turns = this.r.conversation(rng, version, start);
        if (this.model.perRequest) {
          // No session id: every turn is routed on its own, a conversation of one.
          for (const turn of turns) {
            const conv: Conversation = { u: rng.uniform(), states: [null, null] };
            this.push(start + turn.at, { conv, turn, reqMs: start + turn.at });
          }
        } else {
          const conv: Conversation = { u, states: [null, null] };
          for (const turn of turns) this.push(start + turn.at, { conv, turn, reqMs: start + turn.at });
        }
      }
      const events = this.buckets[m];
      if (!events) continue;
      for (let i = 0; i < events.length; i++) {
        const e = events[i];
        if (e.outcomeOf !== undefined) {
          const st = (this.statesOf(e.conv)[e.outcomeOf] ??= newState());
          const inWindow = this.options.outcomesAt === 'arrival' || e.reqMs >= this.stageStart;
          const into = this.settled ? this.settled.targets(e.reqMs, e.outcomeOf) : [];
          if (inWindow) into.push(this.counts[e.outcomeOf]);
          if (into.length > 0) Counts.outcome(into, st, e.turn);
          else advance(st, e.turn);
          continue;
        }
        const v = e.conv.u < w ? 1 : 0;
        const t = e.reqMs;
        if (this.r.serve) this.r.serve(e.turn, v === 1 ? 'canary' : 'stable', t, rng);
        const st = (this.statesOf(e.conv)[v] ??= newState());
        const into = this.settled ? this.settled.targets(t, v) : [];
        into.push(this.counts[v]);
        Counts.request(into, st, e.turn.error, e.turn.latencyMs);
        if (v === 1) this.canaryRequests++;
        if (e.turn.taskSuccess !== undefined || e.turn.quality !== undefined) {
          const at = t + (e.turn.feedbackDelayMs ?? 0);
          const out: Event = { conv: e.conv, turn: e.turn, reqMs: t, outcomeOf: v };
          if (Math.floor(at / MIN) === m) events.push(out);
          else this.push(at, out);
        }
      }
      this.buckets[m] = [];
    }
  }
}

/** A conversation's outcome state moves on even when the outcome counts in an earlier window. */
function advance(st: ConvState, turn: Turn): void {
  if (turn.taskSuccess !== undefined) {
    st.out++;
    if (!turn.taskSuccess) st.fail++;
  }
  if (turn.quality !== undefined) {
    st.qS += Math.round(turn.quality * 50) / 50;
    st.qN++;
  }
}

/** Rollouts of one model at one rate with the shipped policy and judge. */
export function runTraffic(
  model: TrafficModel,
  rps: number,
  runs: number,
  baseSeed = 42,
  options: ConversationOptions & { v4?: boolean; v5?: boolean; v6?: boolean } = {},
): Summary {
  const outcomes: Outcome[] = [];
  for (let r = 0; r < runs; r++) {
    outcomes.push(
      simulateRollout({
        judge: 'ours',
        stable: HEALTHY,
        canary: HEALTHY,
        requestsPerSecond: rps,
        seed: seedOf(baseSeed + 7_000_003, hashId(model.id), Math.round(rps * 10), r),
        ...(options.v4 === false ? { v4: false } : {}),
        ...(options.v5 === false ? { v5: false } : {}),
        ...(options.v6 === false ? { v6: false } : {}),
        source: (rng) => new ConversationTraffic(model, rps, rng, options),
      }),
    );
  }
  if (process.env.JUDGE_SIM_REASONS) {
    for (const o of outcomes) if (o.result !== 'promoted') console.error(`${model.id} ${rps}: ${o.reason}`);
  }
  return summarize(outcomes);
}

function hashId(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return (h >>> 0) % 1000;
}

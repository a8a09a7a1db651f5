// Conversation traffic for the judge benchmark: conversations drawn from a TrafficModel
// (bench/traffic.ts), routed as the gateway routes them (a sticky hash bucket against the canary's
// weight, so raising the weight moves the conversations of the buckets in between), and counted per
// version exactly as the gateway counts them, the per-conversation counters included.
import type { Histogram, MetricsWindow, VersionMetrics } from '../src/metrics/types';
import { histogramQuantile } from '../src/analysis/values';
import { countOutcome, countRequest, type ConversationState } from '../src/gateway/conversations';
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

  request(st: ConvState, error: boolean, latencyMs: number): void {
    this.requests++;
    const idx = latencyIndex(latencyMs);
    this.latency[idx]++;
    if (error) this.errors++;
    countRequest(this, st, error);
    st.req++;
    if (error) st.err++;
    if (idx > st.maxIdx) {
      this.slowest[idx]++;
      if (st.maxIdx >= 0) this.slowest[st.maxIdx]--;
      st.maxIdx = idx;
    }
  }

  outcome(st: ConvState, turn: Turn): void {
    if (turn.taskSuccess !== undefined) {
      this.taskTotal++;
      if (turn.taskSuccess) this.successes++;
      countOutcome(this, st, { taskSuccess: turn.taskSuccess });
      st.out++;
      if (!turn.taskSuccess) st.fail++;
    }
    if (turn.quality !== undefined) {
      const q = Math.round(turn.quality * 50) / 50;
      this.quality[Math.round(q * 50)]++;
      this.qualitySum += q;
      this.qualityCount++;
      countOutcome(this, st, { qualityScore: q });
      st.qS += q;
      st.qN++;
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
      },
    };
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
  }

  private stage = 0;

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

  window(): MetricsWindow {
    const [s, c] = this.counts;
    const strip = (m: VersionMetrics) => {
      if (this.options.noConversations) delete m.conversations;
      return m;
    };
    return {
      agent: 'sim',
      since: this.stageStart,
      until: 0,
      stable: strip(s.toMetrics('stable')),
      canary: strip(c.toMetrics('canary')),
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
          if (inWindow) this.counts[e.outcomeOf].outcome(st, e.turn);
          else advance(st, e.turn);
          continue;
        }
        const v = e.conv.u < w ? 1 : 0;
        const t = e.reqMs;
        if (this.r.serve) this.r.serve(e.turn, v === 1 ? 'canary' : 'stable', t, rng);
        const st = (this.statesOf(e.conv)[v] ??= newState());
        this.counts[v].request(st, e.turn.error, e.turn.latencyMs);
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
  options: ConversationOptions & { v4?: boolean } = {},
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

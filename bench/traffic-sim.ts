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

/** Fields of a ConvState in the conversation table, per version (see Conversations). */
const STATE_FIELDS = 7;

/**
 * The conversations in flight, as columns (the bucket of hash `u`, the stage their states belong
 * to, each version's state): at 100 requests/s a rollout draws a quarter of a million of them, and
 * an object each, chased from every event, made the simulation wait on memory more than compute.
 * A slot is taken when a conversation is drawn and given back when its last pending event is
 * counted (or none was ever due before the horizon): nothing reads it after that.
 */
class Conversations {
  u = new Float64Array(1024);
  /** The stage the states belong to: the gateway starts every conversation afresh at a new split. */
  stage = new Int32Array(1024);
  /** Events still due (requests and outcomes in the buckets). */
  refs = new Int32Array(1024);
  /** STATE_FIELDS per version: req, err, out, fail, maxIdx, qS, qN. */
  states = new Float64Array(1024 * 2 * STATE_FIELDS);
  private free: number[] = [];
  private size = 0;

  take(u: number): number {
    let i = this.free.pop();
    if (i === undefined) {
      i = this.size++;
      if (i === this.u.length) this.grow();
    }
    this.u[i] = u;
    this.stage[i] = -1;
    this.refs[i] = 0;
    return i;
  }

  release(i: number): void {
    if (--this.refs[i] === 0) this.free.push(i);
  }

  /** A conversation drawn with nothing due before the horizon. */
  drop(i: number): void {
    if (this.refs[i] === 0) this.free.push(i);
  }

  /** The state of conversation i on version v in `stage`, into `st` (fresh after a new split). */
  load(i: number, v: 0 | 1, stage: number, st: ConvState): void {
    if (this.stage[i] !== stage) {
      this.stage[i] = stage;
      const b = i * 2 * STATE_FIELDS;
      for (let k = 0; k < 2 * STATE_FIELDS; k += STATE_FIELDS) {
        this.states.fill(0, b + k, b + k + STATE_FIELDS);
        this.states[b + k + 4] = -1;
      }
    }
    const s = this.states;
    const b = (i * 2 + v) * STATE_FIELDS;
    st.req = s[b];
    st.err = s[b + 1];
    st.out = s[b + 2];
    st.fail = s[b + 3];
    st.maxIdx = s[b + 4];
    st.qS = s[b + 5];
    st.qN = s[b + 6];
  }

  store(i: number, v: 0 | 1, st: ConvState): void {
    const s = this.states;
    const b = (i * 2 + v) * STATE_FIELDS;
    s[b] = st.req;
    s[b + 1] = st.err;
    s[b + 2] = st.out;
    s[b + 3] = st.fail;
    s[b + 4] = st.maxIdx;
    s[b + 5] = st.qS;
    s[b + 6] = st.qN;
  }

  private grow(): void {
    const n = this.u.length * 2;
    const u = new Float64Array(n);
    u.set(this.u);
    this.u = u;
    const stage = new Int32Array(n);
    stage.set(this.stage);
    this.stage = stage;
    const refs = new Int32Array(n);
    refs.set(this.refs);
    this.refs = refs;
    const states = new Float64Array(n * 2 * STATE_FIELDS);
    states.set(this.states);
    this.states = states;
  }
}

/** Event kinds and a turn's booleans, one byte per event. */
const OUTCOME = 1;
/** An outcome of a request the canary served. */
const OF_CANARY = 2;
const ERROR = 4;
const TASK = 8;
const SUCCESS = 16;
const QUALITY = 32;

/**
 * One minute's events in the order they happen, as columns (requests with their turn's fields,
 * outcomes with their request's time and version). Events appended while the minute is counted (an
 * outcome due in the same minute) are counted after it, in order, as the list of objects was.
 */
class Bucket {
  n = 0;
  conv = new Int32Array(256);
  reqMs = new Float64Array(256);
  latency = new Float64Array(256);
  quality = new Float64Array(256);
  delay = new Float64Array(256);
  flags = new Uint8Array(256);
  /** The turns themselves, when the rollout changes them at serve time (TrafficRollout.serve). */
  turns: Turn[] | null = null;

  add(conv: number, reqMs: number, flags: number, latency: number, quality: number, delay: number): number {
    if (this.n === this.conv.length) this.grow();
    const i = this.n++;
    this.conv[i] = conv;
    this.reqMs[i] = reqMs;
    this.flags[i] = flags;
    this.latency[i] = latency;
    this.quality[i] = quality;
    this.delay[i] = delay;
    return i;
  }

  private grow(): void {
    const n = this.conv.length * 2;
    const grown = <T extends Int32Array | Float64Array | Uint8Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.conv = grown(this.conv, new Int32Array(n));
    this.reqMs = grown(this.reqMs, new Float64Array(n));
    this.latency = grown(this.latency, new Float64Array(n));
    this.quality = grown(this.quality, new Float64Array(n));
    this.delay = grown(this.delay, new Float64Array(n));
    this.flags = grown(this.flags, new Uint8Array(n));
  }
}

/** A turn's booleans and presence of outcomes, as Bucket flags. */
function turnFlags(turn: Turn): number {
  return (
    (turn.error ? ERROR : 0) |
    (turn.taskSuccess !== undefined ? TASK : 0) |
    (turn.taskSuccess ? SUCCESS : 0) |
    (turn.quality !== undefined ? QUALITY : 0)
  );
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
  static request(into: Counts[], n: number, st: ConvState, error: boolean, latencyMs: number): void {
    const idx = latencyIndex(latencyMs);
    for (let k = 0; k < n; k++) {
      const c = into[k];
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

  /** An outcome (a turn's task success and score, each if reported), counted into each of `into`, then the state moves on (see request). */
  static outcome(
    into: Counts[],
    n: number,
    st: ConvState,
    taskSuccess: boolean | undefined,
    quality: number | undefined,
  ): void {
    if (taskSuccess !== undefined) {
      const o = { taskSuccess };
      for (let k = 0; k < n; k++) {
        const c = into[k];
        c.taskTotal++;
        if (taskSuccess) c.successes++;
        countOutcome(c, st, o);
      }
      st.out++;
      if (!taskSuccess) st.fail++;
    }
    if (quality !== undefined) {
      const q = Math.round(quality * 50) / 50;
      const o = { qualityScore: q };
      for (let k = 0; k < n; k++) {
        const c = into[k];
        c.quality[Math.round(q * 50)]++;
        c.qualitySum += q;
        c.qualityCount++;
        countOutcome(c, st, o);
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

  /**
   * The minute's counts of a version, and the running sum's when that minute is already in it: into
   * `into` from its start, how many returned (a scratch array, not one per event).
   */
  targets(reqMs: number, v: 0 | 1, into: Counts[]): number {
    const m = Math.floor(reqMs / MIN);
    into[0] = (this.minutes[m] ??= [new Counts(), new Counts()])[v];
    if (m < this.from || m >= this.to) return 1;
    into[1] = this.sum[v];
    return 2;
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
  private readonly buckets: (Bucket | undefined)[] = [];
  private readonly conversations = new Conversations();
  private nextMinute = 0;
  private readonly r: TrafficRollout;
  /** Scratch: a conversation's state while its event is counted, and the counts it goes into. */
  private readonly st: ConvState = { req: 0, err: 0, out: 0, fail: 0, maxIdx: -1, qS: 0, qN: 0 };
  private readonly into: Counts[] = [new Counts(), new Counts(), new Counts()];

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

  /** The bucket of the minute of `at`, or none past the horizon (never served). */
  private bucketAt(at: number): Bucket | undefined {
    if (at >= HORIZON_MS) return undefined;
    const m = Math.floor(at / MIN);
    let b = this.buckets[m];
    if (!b) {
      b = this.buckets[m] = spareBuckets.pop() ?? new Bucket();
      if (this.r.serve) b.turns = [];
    }
    return b;
  }

  /** A request of conversation `conv` at `at`, due in its minute's bucket. */
  private pushRequest(conv: number, at: number, turn: Turn): void {
    const b = this.bucketAt(at);
    if (!b) return;
    this.conversations.refs[conv]++;
    const i = b.add(conv, at, turnFlags(turn), turn.latencyMs, turn.quality ?? 0, turn.feedbackDelayMs ?? 0);
    if (b.turns) b.turns[i] = turn;
  }

  /** Everything that happens in [now, now + ms) at the canary's weight `percent`. */
  serve(ms: number, percent: number, now: number): void {
    const end = now + ms;
    const w = percent / 100;
    const rng = this.rng;
    const convs = this.conversations;
    const st = this.st;
    const into = this.into;
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
            const conv = convs.take(rng.uniform());
            this.pushRequest(conv, start + turn.at, turn);
            convs.drop(conv);
          }
        } else {
          const conv = convs.take(u);
          for (const turn of turns) this.pushRequest(conv, start + turn.at, turn);
          convs.drop(conv);
        }
      }
      const b = this.buckets[m];
      if (!b) continue;
      // b.n grows while counting: an outcome due in this same minute is appended and counted after.
      for (let i = 0; i < b.n; i++) {
        const flags = b.flags[i];
        const conv = b.conv[i];
        const t = b.reqMs[i];
        if (flags & OUTCOME) {
          const v = flags & OF_CANARY ? 1 : 0;
          convs.load(conv, v, this.stage, st);
          const inWindow = this.options.outcomesAt === 'arrival' || t >= this.stageStart;
          let n = this.settled ? this.settled.targets(t, v, into) : 0;
          if (inWindow) into[n++] = this.counts[v];
          const task = flags & TASK ? (flags & SUCCESS) !== 0 : undefined;
          const quality = flags & QUALITY ? b.quality[i] : undefined;
          if (n > 0) Counts.outcome(into, n, st, task, quality);
          else advance(st, task, quality);
          convs.store(conv, v, st);
          convs.release(conv);
          continue;
        }
        const v = convs.u[conv] < w ? 1 : 0;
        let error = (flags & ERROR) !== 0;
        let latency = b.latency[i];
        let outcome = flags & (TASK | SUCCESS | QUALITY);
        let quality = b.quality[i];
        let delay = b.delay[i];
        if (this.r.serve) {
          // The rollout may change the turn as it is served (an incident on both versions).
          const turn = b.turns![i];
          this.r.serve(turn, v === 1 ? 'canary' : 'stable', t, rng);
          error = turn.error;
          latency = turn.latencyMs;
          outcome = turnFlags(turn) & (TASK | SUCCESS | QUALITY);
          quality = turn.quality ?? 0;
          delay = turn.feedbackDelayMs ?? 0;
        }
        convs.load(conv, v, this.stage, st);
        let n = this.settled ? this.settled.targets(t, v, into) : 0;
        into[n++] = this.counts[v];
        Counts.request(into, n, st, error, latency);
        convs.store(conv, v, st);
        if (v === 1) this.canaryRequests++;
        if (outcome & (TASK | QUALITY)) {
          const at = t + delay;
          // Past the horizon it is never counted (as a request there would never be served).
          const to = Math.floor(at / MIN) === m ? b : this.bucketAt(at);
          if (to) {
            convs.refs[conv]++;
            to.add(conv, t, OUTCOME | (v === 1 ? OF_CANARY : 0) | outcome, 0, quality, 0);
          }
        }
        convs.release(conv);
      }
      b.n = 0;
      b.turns = null;
      this.buckets[m] = undefined;
      spareBuckets.push(b);
    }
  }
}

/** Buckets counted and emptied, for the next minutes (and the next rollouts of this thread). */
const spareBuckets: Bucket[] = [];

/** A conversation's outcome state moves on even when the outcome counts in an earlier window. */
function advance(st: ConvState, taskSuccess: boolean | undefined, quality: number | undefined): void {
  if (taskSuccess !== undefined) {
    st.out++;
    if (!taskSuccess) st.fail++;
  }
  if (quality !== undefined) {
    st.qS += Math.round(quality * 50) / 50;
    st.qN++;
  }
}

export type TrafficRunOptions = ConversationOptions & { v4?: boolean; v5?: boolean; v6?: boolean };

/**
 * Rollouts `first` to `first + count - 1` of one model at one rate with the shipped policy and
 * judge: each rollout's seed depends on its number only, so a cell can be cut into chunks run
 * anywhere (bench/judge.ts spreads them over threads) and put back in order.
 */
export function trafficOutcomes(
  model: TrafficModel,
  rps: number,
  first: number,
  count: number,
  baseSeed = 42,
  options: TrafficRunOptions = {},
): Outcome[] {
  const outcomes: Outcome[] = [];
  for (let r = first; r < first + count; r++) {
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
  return outcomes;
}

/** A cell's summary from its rollouts in order (why each ended, with JUDGE_SIM_REASONS). */
export function summarizeTraffic(modelId: string, rps: number, outcomes: Outcome[]): Summary {
  if (process.env.JUDGE_SIM_REASONS) {
    for (const o of outcomes) if (o.result !== 'promoted') console.error(`${modelId} ${rps}: ${o.reason}`);
  }
  return summarize(outcomes);
}

/** Rollouts of one model at one rate with the shipped policy and judge. */
export function runTraffic(
  model: TrafficModel,
  rps: number,
  runs: number,
  baseSeed = 42,
  options: TrafficRunOptions = {},
): Summary {
  return summarizeTraffic(model.id, rps, trafficOutcomes(model, rps, 0, runs, baseSeed, options));
}

/** A model id as a number for its rollouts' seeds. */
export function hashId(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return (h >>> 0) % 1000;
}

// Per-conversation counters of one agent version, so that the judge can take the conversation (the
// unit the gateway randomizes by x-session-id) as its unit of analysis (docs/judge.md, "The unit").
//
// Every counter is a sum of increments made when the event happens, kept per second, so any time
// range adds up from its seconds like the request counters beside it (ConversationCountsSchema says
// what each one means). What is remembered per conversation is a few numbers, in a Map bounded by
// `maxConversations`: the least recently seen conversation is forgotten first, and comes back as a
// new one (counted again: more conversations, never fewer bad ones). A request without a session id
// is a conversation of one and leaves nothing behind. Kept in memory only: after a restart they
// start again (the judge then compares both versions over the time since).
import type { ConversationCounts } from '../metrics/types';
import { FINE_BOUNDS, fineIndex, roundMs } from './histogram';

/** What is remembered per conversation and version (also the benchmark's simulated gateway). */
export interface ConversationState {
  req: number;
  err: number;
  out: number;
  fail: number;
  /** Fine latency index of the slowest request so far (-1: none). */
  maxIdx: number;
  qS: number;
  qN: number;
}

/**
 * The sums a conversation's requests and outcomes add to (ConversationCountsSchema's fields), each a
 * sum of increments so that a range adds up from its seconds. The last seven are judge v5's: sums over
 * conversations of their own error rate, failure rate and mean score, and their squares (signed: a
 * conversation's mean moves both ways).
 */
export const CONVERSATION_SUM_FIELDS = [
  'count',
  'errored',
  'cleanRequests',
  'requestsSq',
  'errorsSq',
  'errorsRequests',
  'tasked',
  'failedTask',
  'cleanOutcomes',
  'failuresSq',
  'failuresOutcomes',
  'outcomesSq',
  'qualitySq',
  'qualityCross',
  'qualityCountSq',
  'errorRateSum',
  'errorRateSq',
  'failureRateSum',
  'failureRateSq',
  'scored',
  'qualityMeanSum',
  'qualityMeanSq',
] as const;

export type ConversationSums = Record<(typeof CONVERSATION_SUM_FIELDS)[number], number>;

class Slot implements ConversationSums {
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
  slowest = new Map<number, number>();
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
  constructor(public second: number) {}
}

export const DEFAULT_MAX_CONVERSATIONS = 100_000;
const MAX_KEY = 128;

/** 53-bit string digest (two FNV-1a lanes): collisions only merge two conversations' counts. */
function digest(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 16777619);
    b = Math.imul(b ^ c, 2654435761);
  }
  return ((a >>> 0) * 2097152 + ((b >>> 0) & 0x1fffff)).toString(36);
}

export class ConversationCounters {
  private readonly states = new Map<string, ConversationState>();
  private ring: (Slot | undefined)[] | null = null;
  private readonly totals = new Slot(-1);
  private readonly size: number;

  constructor(
    retentionSeconds: number,
    private readonly maxConversations = DEFAULT_MAX_CONVERSATIONS,
  ) {
    this.size = Math.max(2, retentionSeconds);
  }

  /**
   * A new split (stage, versions or weight) starts every conversation afresh: its later turns count
   * as a new conversation of the stage, so a stage's window holds only its own turns in its sums of
   * squares (a long-lived session's earlier history would otherwise weigh in every window).
   */
  newStage(): void {
    this.states.clear();
  }

  get remembered(): number {
    return this.states.size;
  }

  private slot(now: number): Slot {
    const second = Math.floor(now / 1000);
    const ring = (this.ring ??= new Array<Slot | undefined>(this.size));
    const i = second % this.size;
    let s = ring[i];
    if (s === undefined || s.second !== second) ring[i] = s = new Slot(second);
    return s;
  }

  /** The conversation's state, most recently used last; a fresh one for a request without a key. */
  private state(key: string | undefined): ConversationState {
    const fresh = (): ConversationState => ({ req: 0, err: 0, out: 0, fail: 0, maxIdx: -1, qS: 0, qN: 0 });
    if (key === undefined) return fresh();
    // Session ids are the client's: a long one is kept as a short digest, so memory stays bounded.
    if (key.length > MAX_KEY) key = `${key.slice(0, 32)}#${key.length}#${digest(key)}`;
    let st = this.states.get(key);
    if (st) this.states.delete(key);
    else {
      st = fresh();
      if (this.states.size >= this.maxConversations) {
        const oldest = this.states.keys().next();
        if (!oldest.done) this.states.delete(oldest.value);
      }
    }
    this.states.set(key, st);
    return st;
  }

  /** One request of conversation `key` (undefined: no session id). Latency undefined when unknown. */
  request(key: string | undefined, latencyMs: number | undefined, error: boolean, now: number): void {
    const st = this.state(key);
    const s = this.slot(now);
    countRequest(s, st, error);
    countRequest(this.totals, st, error);
    st.req++;
    if (error) st.err++;
    if (latencyMs !== undefined) {
      const idx = fineIndex(latencyMs);
      if (idx > st.maxIdx) {
        s.slowest.set(idx, (s.slowest.get(idx) ?? 0) + 1);
        if (st.maxIdx >= 0) s.slowest.set(st.maxIdx, (s.slowest.get(st.maxIdx) ?? 0) - 1);
        st.maxIdx = idx;
      }
    }
  }

  /** An outcome of a request of conversation `key`, counted at `at` (its request's time, or now). */
  outcome(key: string | undefined, o: { taskSuccess?: boolean; qualityScore?: number }, at: number): void {
    const st = this.state(key);
    const s = this.slot(at);
    countOutcome(s, st, o);
    countOutcome(this.totals, st, o);
    if (o.taskSuccess !== undefined) {
      st.out++;
      if (!o.taskSuccess) st.fail++;
    }
    if (o.qualityScore !== undefined) {
      st.qS += o.qualityScore;
      st.qN++;
    }
  }

  /**
   * Every sum since the gateway started, for its Prometheus counters (the signed ones, clean counts
   * and slowest requests, only per window: a counter cannot go down).
   */
  total(): ConversationCounts {
    return countsOf(this.totals);
  }

  /** Sums over [since, until) at one-second resolution, as VersionSeries.query. */
  query(since: number, until: number, now: number): ConversationCounts {
    const nowSecond = Math.floor(now / 1000);
    const first = Math.max(Math.floor(since / 1000), nowSecond - this.size + 1);
    const last = Math.min(Math.ceil(until / 1000) - 1, nowSecond);
    const sum = new Slot(0);
    for (let sec = first; sec <= last && this.ring; sec++) {
      const s = this.ring[sec % this.size];
      if (s === undefined || s.second !== sec) continue;
      for (const f of CONVERSATION_SUM_FIELDS) sum[f] += s[f];
      for (const [k, n] of s.slowest) sum.slowest.set(k, (sum.slowest.get(k) ?? 0) + n);
    }
    return countsOf(sum);
  }
}

/** What one request adds, given its conversation's state before it (ConversationCountsSchema). */
export function countRequest(s: ConversationSums, st: ConversationState, error: boolean): void {
  const eb = meanOf(st.err, st.req);
  const ea = (st.err + (error ? 1 : 0)) / (st.req + 1);
  s.errorRateSum += ea - eb;
  s.errorRateSq += ea * ea - eb * eb;
  if (st.req === 0) s.count++;
  s.requestsSq += 2 * st.req + 1;
  if (error) {
    s.errorsSq += 2 * st.err + 1;
    s.errorsRequests += st.err + st.req + 1;
    if (st.err === 0) {
      s.errored++;
      s.cleanRequests -= st.req;
    }
  } else {
    s.errorsRequests += st.err;
    if (st.err === 0) s.cleanRequests++;
  }
}

/** What one outcome adds, given its conversation's state before it. */
export function countOutcome(
  s: ConversationSums,
  st: ConversationState,
  o: { taskSuccess?: boolean; qualityScore?: number },
): void {
  if (o.taskSuccess !== undefined) {
    const fb = meanOf(st.fail, st.out);
    const fa = (st.fail + (o.taskSuccess ? 0 : 1)) / (st.out + 1);
    s.failureRateSum += fa - fb;
    s.failureRateSq += fa * fa - fb * fb;
    if (st.out === 0) s.tasked++;
    if (!o.taskSuccess) {
      if (st.fail === 0) {
        s.failedTask++;
        s.cleanOutcomes -= st.out;
      }
    } else if (st.fail === 0) s.cleanOutcomes++;
    // Increments of the conversation's fail^2, fail x out and out^2.
    const f = o.taskSuccess ? 0 : 1;
    s.failuresSq += f * (2 * st.fail + 1);
    s.failuresOutcomes += f * (st.out + 1) + st.fail;
    s.outcomesSq += 2 * st.out + 1;
  }
  if (o.qualityScore !== undefined) {
    const q = o.qualityScore;
    if (st.qN === 0) s.scored++;
    const qb = meanOf(st.qS, st.qN);
    const qa = (st.qS + q) / (st.qN + 1);
    s.qualityMeanSum += qa - qb;
    s.qualityMeanSq += qa * qa - qb * qb;
    s.qualitySq += 2 * st.qS * q + q * q;
    s.qualityCross += st.qS + q * (st.qN + 1);
    s.qualityCountSq += 2 * st.qN + 1;
  }
}

/**
 * A conversation's own mean (errors per request, failures per outcome, score per score) before an
 * event; with it the mean is (sum + x)/(n + 1), and the window's sums of means and of squared means
 * move by as much. Written out at each use rather than as a helper taking field names: a keyed
 * field write per event was a fifth of the judge benchmark's time (bench/traffic-sim.ts).
 */
function meanOf(sum: number, n: number): number {
  return n > 0 ? sum / n : 0;
}

function countsOf(sum: Slot): ConversationCounts {
  const slowest = [...sum.slowest]
    .filter(([, n]) => n !== 0)
    .sort((a, b) => a[0] - b[0])
    .map(([k, n]): [number, number] => [roundMs(FINE_BOUNDS[k]), n]);
  return {
    count: sum.count,
    errored: sum.errored,
    cleanRequests: sum.cleanRequests,
    requestsSq: sum.requestsSq,
    errorsSq: sum.errorsSq,
    errorsRequests: sum.errorsRequests,
    tasked: sum.tasked,
    failedTask: sum.failedTask,
    cleanOutcomes: sum.cleanOutcomes,
    failuresSq: sum.failuresSq,
    failuresOutcomes: sum.failuresOutcomes,
    outcomesSq: sum.outcomesSq,
    slowest,
    // Rounding can leave a sum a hair under 0; the schema wants them non-negative.
    qualitySq: Math.max(0, sum.qualitySq),
    qualityCross: Math.max(0, sum.qualityCross),
    qualityCountSq: sum.qualityCountSq,
    errorRateSum: sum.errorRateSum,
    errorRateSq: sum.errorRateSq,
    failureRateSum: sum.failureRateSum,
    failureRateSq: sum.failureRateSq,
    scored: sum.scored,
    qualityMeanSum: sum.qualityMeanSum,
    qualityMeanSq: sum.qualityMeanSq,
  };
}

// Traffic models for the judge benchmark: conversations, as agents' users have them.
//
// `npm run bench:judge -- --traffic ./my-traffic.ts` runs the judge on a team's own traffic shape. A
// module exports `default` (one TrafficModel) or `models` (several). The interface:
//
//   interface TrafficModel {
//     id: string;                 // short name for the report
//     label: string;              // one line: what the traffic is
//     meanTurns: number;          // mean turns per conversation (sets the conversation arrival rate)
//     aa: boolean;                // true when both versions behave alike (false rollbacks are counted)
//     perRequest?: boolean;       // routed per request (no x-session-id): each turn its own conversation
//     rollout(rng: Rng): TrafficRollout;   // once per simulated rollout (draw incidents here)
//   }
//   interface TrafficRollout {
//     conversation(rng, version: 'stable' | 'canary', startMs): Turn[];  // a conversation's turns
//     load?(tMs): number;         // relative arrival rate at time t (1 = nominal; diurnal, spikes)
//     serve?(turn, version, tMs, rng): void;  // change a turn when served (incidents on both)
//   }
//   interface Turn {
//     at: number;                 // ms after the conversation's start
//     error: boolean; latencyMs: number;
//     taskSuccess?: boolean; quality?: number;  // outcome reported for this turn, if any
//     feedbackDelayMs?: number;   // when the outcome arrives after the turn (default 0)
//   }
//
// Times are rollout times: 0 is the rollout's start. The simulator routes each conversation as the
// gateway does (a uniform hash bucket against the canary's weight, sticky) and counts exactly what
// the gateway counts per version, conversations included.
import { Rng } from './judge-sim';

export type VersionName = 'stable' | 'canary';

export interface Turn {
  at: number;
  error: boolean;
  latencyMs: number;
  taskSuccess?: boolean;
  quality?: number;
  feedbackDelayMs?: number;
}

export interface TrafficRollout {
  conversation(rng: Rng, version: VersionName, startMs: number): Turn[];
  load?(tMs: number): number;
  serve?(turn: Turn, version: VersionName, tMs: number, rng: Rng): void;
}

export interface TrafficModel {
  id: string;
  label: string;
  meanTurns: number;
  aa: boolean;
  perRequest?: boolean;
  rollout(rng: Rng): TrafficRollout;
}

// ---- draws -------------------------------------------------------------------------------------

/** Gamma(shape, 1), Marsaglia-Tsang (with the shape < 1 boost). */
export function gamma(rng: Rng, shape: number): number {
  if (shape < 1) return gamma(rng, shape + 1) * Math.pow(rng.uniform() || 1e-300, 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.uniform();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function beta(rng: Rng, a: number, b: number): number {
  const x = gamma(rng, a);
  return x / (x + gamma(rng, b));
}

/**
 * Lognormal lengths with mean 10 and 0.1% of conversations over 200 turns: ln L ~ N(1.578, 1.204)
 * (mean exp(mu + sigma^2 / 2) = 10, P(L > 200) = P(Z > 3.09) = 0.001).
 */
export function lognormalLength(rng: Rng): number {
  return Math.max(1, Math.round(Math.exp(1.578 + 1.204 * rng.normal())));
}

/** Pareto lengths, alpha 1.5, mean 10 (x_m = 10/3), capped at 5,000 turns. */
export function paretoLength(rng: Rng): number {
  const u = rng.uniform() || 1e-12;
  return Math.max(1, Math.min(5000, Math.round(10 / 3 / Math.pow(u, 1 / 1.5))));
}

const MEDIAN_MS = 300;
const SIGMA = 0.5;
/** Seconds between a conversation's turns (a user reading and typing), exponential. */
const THINK_S = 20;

/** A healthy version's knobs and the regressions the benchmark applies to a canary. */
export interface Shape {
  length: (rng: Rng) => number;
  /** Per-conversation error propensity (Beta(0.5, 99.5): mean 0.5%). */
  propensity: (rng: Rng) => number;
  /** Share of conversations that fail every turn (a malformed input the client retries), and for how many turns. */
  failing: number;
  failingTurns?: number;
  /** Latency grows with the conversation: per-conversation factor lognormal(0, 0.3) x (1 + turn/20). */
  contextLatency?: boolean;
  /** Quality scores 0 / 0.5 / 1 with intra-class correlation 0.25 within a conversation. */
  correlatedScores?: boolean;
  /** Feedback delays (ms) for good and bad outcomes, and the chance each is reported. */
  feedback?: { good: [number, number]; bad: [number, number]; reportGood: number; reportBad: number };
}

export interface Regression {
  /** Added per-request error probability on the canary. */
  errors?: number;
  /** Only from this turn on (regressions of long conversations). */
  fromTurn?: number;
  /** Only from this rollout time on (a regression that starts mid-rollout). */
  fromMs?: number;
  latencyFactor?: number;
  taskSuccessDrop?: number;
  qualityDrop?: number;
}

const baseShape: Shape = {
  length: lognormalLength,
  propensity: (rng) => beta(rng, 0.5, 99.5),
  failing: 0.005,
};

function scoreOf(rng: Rng): number {
  const u = rng.uniform();
  return u < 0.1 ? 0 : u < 0.3 ? 0.5 : 1;
}

/** Builds a model: a shape for both versions, an optional regression of the canary. */
export function conversationModel(
  id: string,
  label: string,
  shape: Partial<Shape>,
  options: {
    regression?: Regression;
    load?: (tMs: number) => number;
    incident?: boolean;
    perRequest?: boolean;
  } = {},
): TrafficModel {
  const sh: Shape = { ...baseShape, ...shape };
  const reg = options.regression;
  return {
    id,
    label,
    meanTurns: 10,
    aa: reg === undefined,
    ...(options.perRequest ? { perRequest: true } : {}),
    rollout(rng0) {
      // An upstream failing for both versions once per rollout: 2-10 min, 30-80% errors, in the first 3 h.
      const inc = options.incident
        ? (() => {
            const start = rng0.uniform() * 3 * 3_600_000;
            return { start, end: start + (2 + 8 * rng0.uniform()) * 60_000, p: 0.3 + 0.5 * rng0.uniform() };
          })()
        : null;
      return {
        ...(options.load ? { load: options.load } : {}),
        ...(inc
          ? {
              serve(turn: Turn, _v: VersionName, t: number, rng: Rng) {
                if (t >= inc.start && t < inc.end && rng.uniform() < inc.p) turn.error = true;
              },
            }
          : {}),
        conversation(rng, version, startMs) {
          const failing = rng.uniform() < sh.failing;
          let length = sh.length(rng);
          if (failing && sh.failingTurns) length = sh.failingTurns;
          const p = sh.propensity(rng);
          const latFactor = sh.contextLatency ? Math.exp(0.3 * rng.normal()) : 1;
          const convScore = scoreOf(rng);
          const canary = version === 'canary' && reg !== undefined;
          const turns: Turn[] = [];
          let at = 0;
          for (let i = 0; i < length; i++) {
            if (i > 0) at += -Math.log(1 - rng.uniform()) * THINK_S * 1000;
            const live = canary && (reg.fromMs === undefined || startMs + at >= reg.fromMs);
            const hit = live && (reg.fromTurn === undefined || i >= reg.fromTurn);
            let error = failing || rng.uniform() < p;
            if (hit && reg.errors && rng.uniform() < reg.errors) error = true;
            let latency = MEDIAN_MS * Math.exp(SIGMA * rng.normal()) * latFactor;
            if (sh.contextLatency) latency *= 1 + i / 20;
            if (hit && reg.latencyFactor) latency *= reg.latencyFactor;
            const success = rng.uniform() < 0.95 - (hit ? (reg.taskSuccessDrop ?? 0) : 0);
            let quality: number;
            if (sh.correlatedScores) quality = rng.uniform() < 0.5 ? convScore : scoreOf(rng);
            else quality = Math.min(1, Math.max(0, 0.8 + 0.12 * rng.normal()));
            if (hit && reg.qualityDrop) quality = Math.max(0, quality - reg.qualityDrop);
            const turn: Turn = { at, error, latencyMs: latency };
            const fb = sh.feedback;
            if (fb) {
              const [lo, hi] = success ? fb.good : fb.bad;
              if (rng.uniform() < (success ? fb.reportGood : fb.reportBad)) {
                turn.taskSuccess = success;
                turn.feedbackDelayMs = lo + (hi - lo) * rng.uniform();
              }
            } else turn.taskSuccess = success;
            turn.quality = quality;
            turns.push(turn);
          }
          return turns;
        },
      };
    },
  };
}

const MIN = 60_000;
/** Diurnal load: x5 between the quietest and the busiest hour, a 24 h period starting at a random phase. */
const diurnal = (phase: number) => (t: number) =>
  1 + (2 / 3) * Math.sin(2 * Math.PI * (t / 86_400_000 + phase));

/** The rows (29): the A/A traffic shapes and the regressions the judge must catch. */
export function builtinModels(): TrafficModel[] {
  return [
    conversationModel('heavy', 'heavy-tailed conversations (lognormal lengths, failing users)', {}),
    conversationModel('pareto', 'the same with Pareto lengths', { length: paretoLength }),
    conversationModel('mild', 'failing conversations 5 turns long', { failingTurns: 5 }),
    conversationModel('latency', 'latency that grows with the conversation', { contextLatency: true }),
    conversationModel('scores', 'quality scores correlated within a conversation (ICC 0.25)', {
      correlatedScores: true,
    }),
    conversationModel(
      'incident',
      'an upstream failing for both versions 2-10 min (30-80% errors)',
      {},
      {
        incident: true,
      },
    ),
    conversationModel('late', 'feedback sooner for bad outcomes (bad 1-10 min, good 5-30 min)', {
      feedback: { good: [5 * MIN, 30 * MIN], bad: [1 * MIN, 10 * MIN], reportGood: 1, reportBad: 1 },
    }),
    conversationModel('biased', 'failed tasks reported more often (60% against 25%)', {
      feedback: { good: [0, 5 * MIN], bad: [0, 5 * MIN], reportGood: 0.25, reportBad: 0.6 },
    }),
    conversationModel('diurnal', 'diurnal load (x5)', {}, { load: diurnal(0.6) }),
    conversationModel('perrequest', 'heavy-tailed traffic routed per request', {}, { perRequest: true }),
    // Regressions (not A/A): caught before 100%, or promoted at most 5% when worse by minEffect.
    conversationModel(
      'err_1_2',
      'errors +1 point (1% -> 2%) on heavy-tailed traffic',
      {},
      {
        regression: { errors: 0.01 },
      },
    ),
    conversationModel(
      'err_1_5',
      'errors +4 points on heavy-tailed traffic',
      {},
      { regression: { errors: 0.04 } },
    ),
    conversationModel('p99_150', 'p99 +50%', {}, { regression: { latencyFactor: 1.5 } }),
    // Exactly the default minEffect.p99_latency_ms (+20%): promoted at most 5%.
    conversationModel('p99_120', 'p99 +20% (minEffect)', {}, { regression: { latencyFactor: 1.2 } }),
    // Exactly the default minEffect.quality_score (0.02) below the stable: promoted at most 5%.
    conversationModel(
      'quality_min',
      'quality -0.02 (minEffect) on heavy-tailed traffic',
      {},
      {
        regression: { qualityDrop: 0.02 },
      },
    ),
    conversationModel(
      'long_only',
      'errors +5 points from the 10th turn on (long conversations only)',
      {},
      {
        regression: { errors: 0.05, fromTurn: 10 },
      },
    ),
    conversationModel(
      'mid',
      'errors +4 points starting 45 min into the rollout',
      {},
      {
        regression: { errors: 0.04, fromMs: 45 * MIN },
      },
    ),
  ];
}

// One log-bucket scheme shared by the per-second store, the admin API and /metrics, so every view of
// the same traffic agrees bucket by bucket. Buckets grow by 2%, which keeps any quantile read from
// them within 2% of the truth (the bound of the bucket the rank falls in) at ~1000 buckets for
// 10 µs .. 1 h.

const MIN_MS = 0.01;
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
export const MAX_INDEX = Math.ceil(Math.log(3_600_000 / MIN_MS) / LOG_GROWTH);

/** Upper bound (ms) of each fine bucket; the last one also takes everything slower. */
export const FINE_BOUNDS: Float64Array = (() => {
  const b = new Float64Array(MAX_INDEX + 1);
  for (let i = 0; i <= MAX_INDEX; i++) b[i] = MIN_MS * Math.pow(GROWTH, i);
  return b;
})();

export function fineIndex(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  let i = Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH);
  // Floating point can land one bucket off at exact bounds.
  if (i > 0 && FINE_BOUNDS[i - 1] >= ms) i--;
  return i > MAX_INDEX ? MAX_INDEX : i;
}

/**
 * Prometheus buckets: every 5th fine bound (10% apart) from 0.1 ms to 10 min, so histogram_quantile
 * stays within ~10% while /metrics stays a few hundred lines per version.
 */
const PROM_STEP = 5;
const PROM_FIRST = Math.ceil(Math.log(0.1 / MIN_MS) / LOG_GROWTH / PROM_STEP) * PROM_STEP;
const PROM_LAST = Math.min(MAX_INDEX, Math.ceil(Math.log(600_000 / MIN_MS) / LOG_GROWTH));
export const PROM_BOUNDS_MS: number[] = [];
for (let i = PROM_FIRST; i <= PROM_LAST; i += PROM_STEP) PROM_BOUNDS_MS.push(FINE_BOUNDS[i]);
/** Fine index -> Prometheus bucket index (PROM_BOUNDS_MS.length means +Inf). */
export const FINE_TO_PROM: Uint16Array = (() => {
  const map = new Uint16Array(MAX_INDEX + 1);
  let p = 0;
  for (let i = 0; i <= MAX_INDEX; i++) {
    while (p < PROM_BOUNDS_MS.length && PROM_BOUNDS_MS[p] < FINE_BOUNDS[i] * (1 - 1e-12)) p++;
    map[i] = p;
  }
  return map;
})();

/** Scores outside this range are refused at the API (a bounded sum can never overflow). */
export const QUALITY_LIMIT = 1000;

/**
 * Quality scores are kept exact to 3 decimals in [-1, 1] (where scores usually are) and to 3
 * significant digits beyond, up to QUALITY_LIMIT: at most ~7,400 distinct keys however many
 * different scores arrive, so a second's histogram stays small.
 */
export function qualityKey(score: number): number {
  if (Math.abs(score) <= 1) return Math.round(score * 1000) / 1000;
  return Number(score.toPrecision(3));
}

/** Fixed quality buckets for Prometheus (scores are usually 0..1; coarser above). */
export const PROM_QUALITY_BOUNDS: number[] = [
  ...Array.from({ length: 21 }, (_, i) => Math.round(i * 5) / 100),
  2,
  3,
  4,
  5,
  10,
  100,
];

/** Rank quantile over [value, count] pairs sorted by value: the value whose bucket holds the rank. */
export function quantile(hist: [number, number][], count: number, q: number): number | null {
  if (count === 0) return null;
  const rank = Math.max(1, Math.ceil(q * count));
  let seen = 0;
  for (const [value, n] of hist) {
    seen += n;
    if (seen >= rank) return value;
  }
  return hist.length ? hist[hist.length - 1][0] : null;
}

/** Sparse map -> sorted [value, count] pairs. */
export function toPairs(map: Map<number, number>, valueOf: (key: number) => number): [number, number][] {
  const keys = [...map.keys()].sort((a, b) => a - b);
  return keys.map((k) => [valueOf(k), map.get(k)!]);
}

/** Bound for display: the fine bounds are irrational; 4 significant digits are plenty. */
export function roundMs(ms: number): number {
  return Number(ms.toPrecision(4));
}

// Seeded randomness for the simulated agents and traffic: a demo run with the same seed draws the
// same sequence, so a surprising result can be reproduced.

/** mulberry32: tiny, fast, good enough for simulation (not for anything secret). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draw (Box-Muller). */
export function normal(rand: () => number): number {
  const u = 1 - rand(); // in (0, 1], so log() is finite
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** z such that P(Z <= z) = 0.99 for a standard normal. */
export const Z99 = 2.3263478740408408;

/**
 * Log-normal latency with the given median and 99th percentile: agent latencies are right-skewed
 * (long generations, tool calls), which a normal distribution would not show.
 */
export function logNormalFromQuantiles(rand: () => number, median: number, p99: number): () => number {
  const mu = Math.log(median);
  const sigma = Math.log(p99 / median) / Z99;
  return () => Math.exp(mu + sigma * normal(rand));
}

/** A stable 32-bit seed from a string, so each version gets its own sequence from one demo seed. */
export function hashSeed(text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

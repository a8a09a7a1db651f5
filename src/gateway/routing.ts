// Pure routing: which version serves a request. No I/O, no allocation beyond the hash loop, because
// it runs on every proxied request.
import type { AppliedSplit } from '../router/types';

const BUCKETS = 1_000_000;

/**
 * A session key's fixed place in [0, 100): FNV-1a over agent and key, so a conversation keeps its
 * bucket while the weight changes (bucket < weight means canary: the canary set only grows as the
 * weight grows), and different agents put the same user in unrelated buckets.
 * Resolution is 0.0001 percentage points, far finer than any weight anyone sets.
 */
export function bucketOf(agent: string, key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < agent.length; i++) {
    h ^= agent.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= 0x1f; // separator, so ("ab","c") and ("a","bc") differ
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // FNV's low bits mix poorly for short keys: one round of murmur3's finalizer spreads them.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return ((h >>> 0) % BUCKETS) / (BUCKETS / 100);
}

/** True when the canary share still holds at `now` (a lapsed lease means 100% stable). */
export function canaryActive(split: AppliedSplit, now: number): boolean {
  return (
    split.canary !== null &&
    split.canaryWeight > 0 &&
    (split.leaseExpiresAt === null || now < split.leaseExpiresAt)
  );
}

/** The version for one request: sticky by key when given, random otherwise. */
export function chooseVersion(split: AppliedSplit, key: string | undefined, now: number): string {
  if (!canaryActive(split, now)) return split.stable;
  const point = key ? bucketOf(split.agent, key) : Math.random() * 100;
  return point < split.canaryWeight ? split.canary! : split.stable;
}

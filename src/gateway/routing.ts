// Pure routing: which version serves a request. No I/O, no allocation beyond the hash loop, because
// it runs on every proxied request.
import type { AppliedSplit, SplitTestRoutes } from '../router/types';

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

/**
 * True when a request carries one of the split's test routes (a header, or a cookie, at the exact
 * value): it goes to the canary whatever the weight, while the canary has a share.
 */
export function testRouted(
  routes: SplitTestRoutes,
  headers: Record<string, string | string[] | undefined>,
): boolean {
  for (const m of routes.match) {
    if ('header' in m) {
      const v = headers[m.header];
      if (v === m.value || (Array.isArray(v) && v.includes(m.value))) return true;
    } else {
      const cookie = headers.cookie;
      if (typeof cookie !== 'string') continue;
      for (const part of cookie.split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0 && part.slice(0, eq).trim() === m.cookie && part.slice(eq + 1).trim() === m.value)
          return true;
      }
    }
  }
  return false;
}

/** The version for one request: sticky by key when given, random otherwise. */
export function chooseVersion(split: AppliedSplit, key: string | undefined, now: number): string {
  if (!canaryActive(split, now)) return split.stable;
  const point = key ? bucketOf(split.agent, key) : Math.random() * 100;
  return point < split.canaryWeight ? split.canary! : split.stable;
}

/**
 * The percent of requests mirrored to the canary now (a shadow stage), or 0. The lease bounds it as
 * it bounds a canary share: mirroring nobody judges stops by itself.
 */
export function shadowShare(split: AppliedSplit, now: number): number {
  if (split.canary === null || split.shadow === undefined) return 0;
  return split.leaseExpiresAt === null || now < split.leaseExpiresAt ? split.shadow : 0;
}

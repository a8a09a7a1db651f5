// The conversation as the unit of analysis (docs/judge.md, "The unit").
//
// The gateway randomizes conversations, not requests (it hashes x-session-id), so requests of one
// conversation are not independent draws: one user whose every turn fails, or one long slow
// conversation, is one unit of evidence, not two hundred. Counted events are therefore counted at
// most once per conversation (K = 1: "the conversation had an error", "went above t", "had a failed
// task"). Under "no worse" every conversation is the canary's with the same probability whatever
// happens in it, so each such event is the canary's with the canary's share of the conversations, an
// exact Bernoulli draw, and the share test's likelihood ratio needs no tempering. Means (quality) use
// the cluster-robust (delta-method) variance of the ratio of sums, from the per-conversation sums.
//
// What remains assumed: conversations are independent of each other (an incident hitting many at
// once hits both versions alike, which the share test does not mind), and a conversation seen on a
// version before the window counts as a conversation of the window only if it is seen again in it.
import type { ConversationCounts, Histogram, VersionMetrics } from '../metrics/types';

export type Counted = 'error_rate' | 'task_success_rate';

/** Both versions' conversation counts, when the source gave them for both. */
export function conversationsOf(stable: VersionMetrics, canary: VersionMetrics) {
  const s = stable.conversations;
  const c = canary.conversations;
  return s && c && s.count > 0 && c.count > 0 ? { s, c } : undefined;
}

/** Conversations with a bad event, conversations, and requests (outcomes) of the others. */
export function badConversations(c: ConversationCounts, metric: Counted) {
  return metric === 'error_rate'
    ? { bad: c.errored, n: c.count, clean: c.cleanRequests }
    : { bad: c.failedTask, n: c.tasked, clean: c.cleanOutcomes };
}

/**
 * How much more often a conversation has a bad event when each of its requests is `delta` likelier
 * to be bad: a clean conversation of L requests stays clean with probability (1 - delta)^L, so the
 * share of bad conversations rises by P(clean) (1 - (1 - delta)^m), m the clean conversations'
 * mean length (pooled over both versions: under "no worse" it says nothing about which is which).
 */
export function conversationShift(
  c: { bad: number; n: number; clean: number },
  s: { bad: number; n: number; clean: number },
): (delta: number) => number {
  const n = c.n + s.n;
  const cleanConversations = Math.max(0, n - c.bad - s.bad);
  const clean = Math.max(0, c.clean + s.clean);
  const m = cleanConversations > 0 ? Math.max(1, clean / cleanConversations) : 1;
  const q = n > 0 ? Math.max(cleanConversations / n, 0.01) : 1;
  return (delta) => q * (1 - Math.pow(1 - Math.min(delta, 1 - 1e-9), m));
}

/** Conversations above x from a signed `slowest` histogram (clamped: counts above are >= 0). */
export function conversationsAbove(h: Histogram, x: number): number {
  let n = 0;
  for (const [v, c] of h) if (v > x) n += c;
  return Math.max(0, n);
}

/**
 * Share of conversations whose slowest request is above x, interpolated log-linearly between
 * bucket values as values.ts survivalAt does for requests, so "above t / 1.2" moves smoothly.
 */
export function conversationSurvival(h: Histogram, total: number, x: number): number {
  if (total <= 0 || h.length === 0) return 0;
  const at = (v: number) => Math.min(1, conversationsAbove(h, v) / total);
  let lo = -1;
  for (let i = 0; i < h.length; i++) if (h[i][0] <= x) lo = i;
  if (lo < 0) return at(h[0][0] - 1e-9);
  if (lo === h.length - 1 || h[lo][0] === x) return at(h[lo][0]);
  const [a, b] = [h[lo][0], h[lo + 1][0]];
  const sa = at(a);
  const sb = at(b);
  const f = Math.log(x / a) / Math.log(b / a);
  return sb > 0 && sa > 0 ? Math.exp(Math.log(sa) + f * Math.log(sb / sa)) : sa + f * (sb - sa);
}

/**
 * Variance inflation of a version's error count over the binomial one (1 for independent requests):
 * sum over conversations of (e_i - p n_i)^2 against p (1 - p) n. What a per-request test would have
 * to allow for; shown at each check.
 */
export function errorInflation(m: VersionMetrics): number | undefined {
  const c = m.conversations;
  if (!c || m.requests < 2 || m.errors === 0 || m.errors === m.requests) return undefined;
  const p = m.errors / m.requests;
  const spread = c.errorsSq - 2 * p * c.errorsRequests + p * p * c.requestsSq;
  return Math.max(1, spread / (p * (1 - p) * m.requests));
}

/**
 * Cluster-robust variance of a version's mean score (delta method for the ratio of sums), and its
 * design effect against the independent-scores variance `iid` (undefined without conversation sums).
 */
export function clusterMeanVariance(
  m: VersionMetrics,
  iid: number,
): { v: number; effect: number } | undefined {
  const c = m.conversations;
  const n = m.quality.count;
  if (!c || n < 2 || !(c.qualityCountSq > 0)) return undefined;
  const mean = m.quality.sum / n;
  const spread = c.qualitySq - 2 * mean * c.qualityCross + mean * mean * c.qualityCountSq;
  const v = Math.max(0, spread) / (n * n);
  return { v, effect: iid > 0 ? v / iid : 1 };
}

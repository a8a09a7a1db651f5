// The conversation as the unit of analysis (docs/judge.md, "The unit").
//
// The gateway randomizes conversations, not requests (it hashes x-session-id), so requests of one
// conversation are not independent draws: one user whose every turn fails, or one long slow
// conversation, is one bursty unit, not two hundred independent ones. Counted events (errors, failed
// tasks) are still counted per request, and the share test's ln LR is divided by the dispersion
// measured within each version's conversations (the sums of squares the gateway keeps per
// conversation): the quasi-likelihood answer to clustered counts. Counting "conversations with an
// error" instead (at most one per conversation) is exact but starves when conversations are long:
// with 200 turns nearly every conversation has an error on both versions and says nothing. p99 is
// judged on each conversation's slowest request; means (quality) use the cluster-robust
// (delta-method) variance of the ratio of sums.
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
 * Dispersion of the counted events within conversations (quasi-likelihood): the cluster-robust
 * variance of the difference of the two versions' rates, sum over each version's conversations of
 * (e_i - p n_i)^2 / n^2 around its own rate p (so a real difference between the versions is not
 * taken for dispersion), against the binomial variance of that difference under "no worse",
 * p0 (1 - p0) (1 / n_c + 1 / n_s) at the pooled rate p0. At least 1; the share test's ln LR is
 * divided by it. Each version weighs by the inverse of its size: at 5% on the canary the variance is
 * almost all the canary's, so a bursty user on the (large) stable barely counts, and one on the
 * canary counts in full (a figure pooled over the requests of both weighed them the other way round
 * and held healthy canaries for a stable's failing user). Conversations that began before the
 * window bring their earlier counts into the squares, which errs on the large side when a
 * conversation's turns resemble each other, the case it is for.
 */
export function withinDispersion(
  canary: VersionMetrics,
  stable: VersionMetrics,
  metric: Counted,
): { value: number; measured: boolean } {
  const parts: { e: number; n: number; spread: number }[] = [];
  for (const m of [canary, stable]) {
    const c = m.conversations;
    if (!c) return { value: 1, measured: false };
    const [e, n, eSq, eN, nSq] =
      metric === 'error_rate'
        ? [m.errors, m.requests, c.errorsSq, c.errorsRequests, c.requestsSq]
        : [
            m.taskSuccess.total - m.taskSuccess.successes,
            m.taskSuccess.total,
            c.failuresSq,
            c.failuresOutcomes,
            c.outcomesSq,
          ];
    const p = n > 0 ? e / n : 0;
    parts.push({ e, n, spread: Math.max(0, eSq - 2 * p * eN + p * p * nSq) });
  }
  const [c, s] = parts;
  if (c.n <= 0 || s.n <= 0) return { value: 1, measured: false };
  const p0 = (c.e + s.e) / (c.n + s.n);
  const binomial = p0 * (1 - p0) * (1 / c.n + 1 / s.n);
  if (!(binomial > 0)) return { value: 1, measured: true };
  const robust = c.spread / (c.n * c.n) + s.spread / (s.n * s.n);
  return { value: Math.max(1, robust / binomial), measured: true };
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

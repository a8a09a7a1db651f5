// HTTP delivery with a bounded retry budget. Notifications are best effort: a dead endpoint costs
// at most `budgetMs`, well under the notify activity's timeout, and never holds up a decision.
// Targets come from plans, so every call goes through the outbound policy (src/outbound.ts) and a
// failure is recorded as status code or error kind only: never the answer's body, never the URL.
import { setTimeout as sleep } from 'node:timers/promises';
import { errorKind, isRetryable, statusKind } from '../http-failure';
import {
  OutboundUrlError,
  RedirectRefusedError,
  describeFetchError,
  describeUrl,
  outboundFetch,
  type OutboundPolicy,
} from '../outbound';

export interface DeliveryPolicy {
  /** Attempts in total, including the first. */
  attempts: number;
  /** Each attempt is cut off after this long. */
  attemptTimeoutMs: number;
  /** Wait before the second attempt; doubles after each further failure. */
  backoffMs: number;
  /** No new attempt starts once this much time has passed since the first. */
  budgetMs: number;
}

export const DEFAULT_DELIVERY: DeliveryPolicy = {
  attempts: 3,
  attemptTimeoutMs: 3_000,
  backoffMs: 250,
  budgetMs: 10_000,
};

/** A response that retrying cannot fix (a configuration failure in src/http-failure.ts). */
class PermanentError extends Error {}

/**
 * POSTs `body` to `url`, retrying what src/http-failure.ts calls retryable or an outage. Headers are rebuilt
 * per attempt (a signature carries a timestamp). Throws the last error, naming the target (redacted)
 * and the attempts made, when every attempt failed or the budget ran out.
 */
export async function postWithRetry(
  url: string,
  body: string,
  headers: () => Record<string, string>,
  policy: DeliveryPolicy = DEFAULT_DELIVERY,
  outbound: OutboundPolicy = {},
): Promise<void> {
  const started = Date.now();
  let lastError = 'no attempt made';
  let attempt = 0;
  for (; attempt < policy.attempts; attempt++) {
    if (attempt > 0) {
      const wait = policy.backoffMs * 2 ** (attempt - 1);
      if (Date.now() - started + wait >= policy.budgetMs) break;
      await sleep(wait);
    }
    const left = policy.budgetMs - (Date.now() - started);
    try {
      const res = await outboundFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers() },
        body,
        timeoutMs: Math.max(1, Math.min(policy.attemptTimeoutMs, left)),
        policy: outbound,
      });
      // Drain the body so the connection is released; its content is not kept.
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return;
      lastError = `HTTP ${res.status}`;
      if (!isRetryable(statusKind(res.status))) throw new PermanentError(lastError);
    } catch (err) {
      if (err instanceof OutboundUrlError) {
        throw new Error(`${redact(url)} not called: the URL ${err.message}`);
      }
      if (err instanceof PermanentError || err instanceof RedirectRefusedError) {
        throw new Error(`${redact(url)} refused the notification: ${err.message}`);
      }
      lastError = describeFetchError(err);
      // An untrusted certificate: no attempt will pass until the target or the trust store changes.
      if (!isRetryable(errorKind(err))) throw new Error(`${redact(url)} not called: ${lastError}`);
    }
  }
  throw new Error(
    `${redact(url)} failed after ${Math.max(1, attempt)} attempt(s) in ${Date.now() - started}ms: ${lastError}`,
  );
}

/** Webhook URLs often carry their secret in the path (Slack): show only scheme, host and a hint. */
export function redact(url: string): string {
  return describeUrl(url);
}

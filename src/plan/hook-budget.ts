// How long one hook's call may take, retries included: the workflow sizes the hooks activity's
// timeouts with it and src/hooks.ts spaces its retries with the same backoff. Pure (workflow bundle).
import type { Hook } from './schema';

/** Wait before the second attempt; doubles after each further failure. */
export const HOOK_BACKOFF_MS = 200;

export function hookBudgetMs(h: Pick<Hook, 'timeout' | 'retries'>): number {
  let backoff = 0;
  for (let i = 1; i <= h.retries; i++) backoff += HOOK_BACKOFF_MS * 2 ** (i - 1);
  return h.timeout * (h.retries + 1) + backoff;
}

// analysis.onFail: which metrics pause a rollout for a person instead of rolling it back, when
// their failed checks reach the failure limit. Pure: the policy (in the workflow) reads it too.
import type { OnFail } from './schema';

/** The key of analysis.onFail that is a duration, not a metric (here: the workflow reads it without zod). */
export const ON_FAIL_TIMEOUT = 'timeout';

export type OnFailAction = 'rollback' | 'pause';

/** What a failure of `metric` does under `onFail`: its own entry, else `default`, else rollback. */
export function onFailFor(onFail: OnFail | undefined, metric: string): OnFailAction {
  const own = metric === ON_FAIL_TIMEOUT ? undefined : onFail?.[metric];
  const action = typeof own === 'string' ? own : onFail?.default;
  return typeof action === 'string' ? action : 'rollback';
}

/** How long a pause on a failed check waits for a person (ms), or undefined: the progress deadline. */
export function onFailTimeoutMs(onFail: OnFail | undefined): number | undefined {
  return typeof onFail?.timeout === 'number' ? onFail.timeout : undefined;
}

/**
 * The action for a failed check: pause only when every failing metric says pause (one metric that
 * rolls back is enough to roll back). A failed verdict that names no failing metric rolls back.
 */
export function onFailForCheck(onFail: OnFail | undefined, failing: readonly string[]): OnFailAction {
  if (!onFail || failing.length === 0) return 'rollback';
  return failing.every((m) => onFailFor(onFail, m) === 'pause') ? 'pause' : 'rollback';
}

/** Names in onFail that no judged metric has: a typo would silently roll back instead of pausing. */
export function onFailProblems(
  onFail: OnFail | undefined,
  metrics: readonly string[],
  analysis: object,
): { field: string; message: string }[] {
  if (!onFail) return [];
  // Custom metrics (analysis.custom) are judged too, under their own names.
  const custom = (analysis as { custom?: { name?: unknown }[] }).custom;
  const known = new Set<string>([
    ...metrics,
    ...(Array.isArray(custom) ? custom.map((c) => String(c?.name)) : []),
  ]);
  return Object.keys(onFail)
    .filter((name) => name !== 'default' && name !== ON_FAIL_TIMEOUT && !known.has(name))
    .map((name) => ({
      field: `analysis.onFail.${name}`,
      message: `is not a judged metric (judged: ${[...known].join(', ')}); use one of them or "default"`,
    }));
}

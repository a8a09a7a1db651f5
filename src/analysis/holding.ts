// "Why is it waiting?": which metric holds the current stage, in the judge's own words, and how long
// it should take to decide at the traffic seen so far. Shown as the headline of `status` and of the
// dashboard's rollout page: the per-metric table says the same, but nobody reads it first.
import type { RolloutStatus } from '../../workflows/messages';
import { passMultiple } from './evidence';
import { EFFECT_GRID, PASS_BETA } from './statistical';

export interface Holding {
  /** The stage's window still runs (ms left), or 0 when the stage waits only for evidence. */
  windowLeftMs: number;
  /** The metric that decides last, or null when nothing holds the stage (the window decides). */
  metric: string | null;
  /** The judge's reason for that metric (not yet, no data...). */
  reason: string | null;
  /** "nodata": too few samples yet (no test has begun); "inconclusive": evidence still short. */
  status: 'inconclusive' | 'nodata' | null;
  /**
   * Expected time until that metric is decided at the traffic so far, from how fast its evidence
   * grew in this stage; null when the data give no estimate (no data, or leaning towards worse).
   */
  forecastMs: number | null;
}

const PASS_LLR = Math.log(PASS_BETA);

/** The observation clock brought forward to `now` (the workflow counts it as of its last activation). */
export function observedAt(s: RolloutStatus, now: number): { observedMs: number; windowMs: number } {
  const running = s.state === 'progressing' && !s.execution && s.observing !== false;
  const asOf = s.asOf
    ? Date.parse(s.asOf)
    : Math.max(
        Date.parse(s.startedAt),
        ...[s.lastAnalysis?.at, s.decisions.at(-1)?.at].filter((t): t is string => !!t).map(Date.parse),
      );
  const since = running ? Math.max(0, now - asOf) : 0;
  const windowMs = (s.stages[s.stageIndex]?.observeMs ?? 0) + (s.extendedMs ?? 0);
  return { observedMs: Math.min(windowMs, s.observedMs + since), windowMs };
}

/** What holds a live rollout's stage; null once it has ended or when it has no window to observe. */
export function holdingOf(s: RolloutStatus, now = Date.now()): Holding | null {
  if (s.execution || !['progressing', 'paused'].includes(s.state)) return null;
  const stage = s.stages[s.stageIndex];
  if (!stage || stage.weight >= 100 || stage.observeMs <= 0) return null;
  const { observedMs, windowMs } = observedAt(s, now);
  const windowLeftMs = Math.max(0, windowMs - observedMs);
  const a = s.lastAnalysis;
  const open = (a?.metrics ?? []).filter((m) => m.status === 'inconclusive' || m.status === 'nodata');
  if (!a || a.verdict !== 'inconclusive' || open.length === 0) {
    return { windowLeftMs, metric: null, reason: null, status: null, forecastMs: null };
  }
  const passIndex = Math.max(
    0,
    EFFECT_GRID.findIndex((e) => e.multiple === passMultiple(s, s.stageIndex)),
  );
  const elapsed = Math.max(0, Date.parse(a.at) - Date.parse(s.stageStartedAt));
  const estimates = open.map((m) => {
    const llr = m.status === 'inconclusive' ? m.stats?.llr?.[passIndex] : undefined;
    // Evidence grows about in proportion to the samples, so to the time at steady traffic.
    const forecastMs =
      llr !== undefined && llr < 0 && llr > PASS_LLR && elapsed > 0
        ? Math.max(0, elapsed * (PASS_LLR / llr - 1) - Math.max(0, now - Date.parse(a.at)))
        : null;
    return { m, forecastMs };
  });
  // The metric that decides last holds the stage: one without an estimate before any with one.
  const last = estimates.reduce((worst, e) =>
    (e.forecastMs ?? Infinity) > (worst.forecastMs ?? Infinity) ? e : worst,
  );
  return {
    windowLeftMs,
    metric: last.m.metric,
    reason: last.m.reason,
    status: last.m.status === 'nodata' ? 'nodata' : 'inconclusive',
    forecastMs: last.forecastMs,
  };
}

const LABELS: Record<string, string> = {
  error_rate: 'error rate',
  p99_latency_ms: 'p99 latency',
  task_success_rate: 'task success',
  quality_score: 'quality score',
};

/** Whole seconds under a minute, whole minutes above ("about 3m"). */
function roughly(ms: number, format: (ms: number) => string): string {
  const step = ms < 60_000 ? 5_000 : ms < 3_600_000 ? 60_000 : 300_000;
  return format(Math.max(step, Math.ceil(ms / step) * step));
}

/**
 * The headline: "stage 1 of 3 is waiting on p99 latency: not yet: ...; decided in about 3m at the
 * traffic so far". `format` renders durations (the CLI's and the page's own formats).
 */
export function holdingText(s: RolloutStatus, h: Holding, format: (ms: number) => string): string {
  const stage = `stage ${s.stageIndex + 1} of ${s.stageCount}`;
  const window = h.windowLeftMs > 0 ? `${roughly(h.windowLeftMs, format)} left of its window` : '';
  if (!h.metric) {
    return h.windowLeftMs > 0
      ? `${stage}: observing, ${window}`
      : `${stage}: window over, the next check decides`;
  }
  const label = LABELS[h.metric] ?? h.metric;
  const why = (h.reason ?? '').replace(`${h.metric}: `, '');
  const when =
    h.forecastMs !== null
      ? `decided in about ${roughly(h.forecastMs, format)} at the traffic so far`
      : h.status === 'nodata'
        ? 'no estimate until it has enough samples'
        : 'no estimate yet: the data so far do not lean towards healthy';
  return `${stage} is waiting on ${label}${why ? `: ${why}` : ''}; ${when}${window ? `; ${window}` : ''}${s.state === 'paused' ? ' (paused: the clock is stopped)' : ''}`;
}

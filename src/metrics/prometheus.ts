// Metrics backend over Prometheus, reading the series the agent-canary gateway exposes on /metrics
// (agent_canary_*). Counts over [since, until) are the counters' values at `until` minus those at
// `since` (two instant queries): exact integers, unlike increase(), which extrapolates to the range
// edges. Resolution is the scrape interval. Series from several gateway replicas are summed.
import { CONVERSATION_SERIES, conversationsFromSeries } from './conversation-series';
import { errorKind, isRetryable, statusKind } from '../http-failure';
import { OutboundUrlError, describeFetchError, outboundFetch } from '../outbound';
import { printable } from '../text/sanitize';
import {
  emptyVersionMetrics,
  type ConversationCounts,
  type Histogram,
  type MetricsQuery,
  type MetricsSource,
  type MetricsWindow,
  type VersionMetrics,
  MetricsConfigError,
} from './types';

export interface PrometheusMetricsOptions {
  /** Prometheus base URL, e.g. http://127.0.0.1:9090 */
  url: string;
  /** Extra label matchers for the gateway's series, e.g. 'job="agent-canary-gateway"'. */
  selector?: string;
  timeoutMs?: number;
  headers?: Record<string, string>;
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

const NAMES = [
  'agent_canary_requests_total',
  'agent_canary_errors_total',
  'agent_canary_task_success_total',
  'agent_canary_task_outcomes_total',
  'agent_canary_request_duration_seconds_bucket',
  'agent_canary_request_duration_seconds_count',
  'agent_canary_quality_score_bucket',
  'agent_canary_quality_score_sum',
  'agent_canary_quality_score_count',
  // Per-conversation sums: with them the judge takes the conversation as its unit (docs/judge.md).
  ...CONVERSATION_SERIES.map((c) => c.name),
];

/** Thrown for queries retrying cannot fix (a bad selector): Prometheus said 400/422. */
export class PrometheusQueryError extends MetricsConfigError {
  override name = 'PrometheusQueryError';
}

export class PrometheusMetricsSource implements MetricsSource {
  private readonly base: string;

  constructor(private readonly options: PrometheusMetricsOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  async fetch(q: MetricsQuery): Promise<MetricsWindow> {
    const extra = this.options.selector ? `,${this.options.selector}` : '';
    const versions = [q.stable, q.canary].map(escapeRegex).join('|');
    const sel = `{__name__=~"${NAMES.join('|')}",agent="${escapeLabel(q.agent)}",version=~"${versions}"${extra}}`;
    const rangeS = Math.max(1, Math.ceil((q.until - q.since) / 1000));
    const [atUntil, atSince, resets] = await Promise.all([
      this.instant(sel, q.until),
      this.instant(sel, q.since),
      // A gateway restart resets its counters: detected on the request counter, per instance.
      this.instant(
        `resets(agent_canary_requests_total{agent="${escapeLabel(q.agent)}",version=~"${versions}"${extra}}[${rangeS}s])`,
        q.until,
      ),
    ]);
    const restarted = new Set(resets.filter((s) => Number(s.value[1]) > 0).map((s) => instanceKey(s.metric)));
    const before = new Map(atSince.map((s) => [seriesKey(s.metric), Number(s.value[1])]));

    // Per version: metric name (+ le) -> summed delta.
    const deltas = new Map<string, Map<string, number>>();
    for (const s of atUntil) {
      const now = Number(s.value[1]);
      const then = restarted.has(instanceKey(s.metric)) ? 0 : (before.get(seriesKey(s.metric)) ?? 0);
      // After a reset only the part since the restart is known; it is an undercount, never a negative.
      const delta = now >= then ? now - then : now;
      const v = s.metric.version;
      let m = deltas.get(v);
      if (!m) deltas.set(v, (m = new Map()));
      const name = s.metric.le !== undefined ? `${s.metric.__name__}|${s.metric.le}` : s.metric.__name__;
      m.set(name, (m.get(name) ?? 0) + delta);
    }
    return {
      agent: q.agent,
      since: q.since,
      until: q.until,
      stable: toVersionMetrics(q.stable, deltas.get(q.stable)),
      canary: toVersionMetrics(q.canary, deltas.get(q.canary)),
    };
  }

  private async instant(query: string, atMs: number): Promise<Sample[]> {
    const body = new URLSearchParams({ query, time: (atMs / 1000).toFixed(3) });
    let res: Response;
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    try {
      res = await outboundFetch(`${this.base}/api/v1/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...this.options.headers },
        body,
        timeoutMs,
      });
    } catch (err) {
      if (err instanceof OutboundUrlError) throw new PrometheusQueryError(`prometheus URL ${err.message}`);
      const message = `prometheus query failed: ${describeFetchError(err, timeoutMs)}`;
      throw isRetryable(errorKind(err)) ? new Error(message) : new PrometheusQueryError(message);
    }
    // Bad credentials, a wrong URL, a bad selector (400/422: Prometheus's bad_data and execution
    // errors): retrying cannot fix them (src/http-failure.ts).
    const refused = !isRetryable(statusKind(res.status));
    const text = await res.text();
    let json: { status?: string; error?: string; data?: { resultType: string; result: Sample[] } };
    try {
      json = JSON.parse(text);
    } catch {
      const message = `prometheus answered HTTP ${res.status} with non-JSON (${text.length} bytes)`;
      throw refused ? new PrometheusQueryError(message) : new Error(message);
    }
    if (json.status !== 'success' || !json.data) {
      const reason = typeof json.error === 'string' ? printable(json.error, 300) : '';
      const message = `prometheus query ${printable(query, 300)} failed: HTTP ${res.status} ${reason}`;
      throw refused ? new PrometheusQueryError(message) : new Error(message);
    }
    return json.data.result;
  }
}

function toVersionMetrics(version: string, d: Map<string, number> | undefined): VersionMetrics {
  if (!d) return emptyVersionMetrics(version);
  const n = (name: string) => Math.round(d.get(name) ?? 0);
  const latency = fromBuckets(d, 'agent_canary_request_duration_seconds_bucket', 1000);
  const latencyCount = n('agent_canary_request_duration_seconds_count');
  const quality = fromBuckets(d, 'agent_canary_quality_score_bucket', 1).histogram;
  return {
    version,
    requests: n('agent_canary_requests_total'),
    errors: n('agent_canary_errors_total'),
    latencyMs: {
      count: latencyCount,
      p50: interpolatedQuantile(latency.all, latencyCount, 0.5),
      p99: interpolatedQuantile(latency.all, latencyCount, 0.99),
      histogram: latency.histogram,
    },
    taskSuccess: {
      successes: n('agent_canary_task_success_total'),
      total: n('agent_canary_task_outcomes_total'),
    },
    quality: {
      count: n('agent_canary_quality_score_count'),
      sum: d.get('agent_canary_quality_score_sum') ?? 0,
      histogram: quality,
    },
    ...withConversations(conversationsFromSeries((name) => d.get(name))),
  };
}

const withConversations = (c: ConversationCounts | undefined) => (c ? { conversations: c } : {});

/**
 * Cumulative `le` buckets -> sorted [upperBound, count] pairs, non-cumulative, non-empty only. The +Inf
 * bucket is reported at the largest finite bound (a value JSON and the judges can use).
 */
function fromBuckets(
  d: Map<string, number>,
  name: string,
  scale: number,
): { histogram: Histogram; all: [number, number][] } {
  const cumulative: [number, number][] = [];
  for (const [key, value] of d) {
    if (!key.startsWith(name + '|')) continue;
    const le = key.slice(name.length + 1);
    cumulative.push([le === '+Inf' ? Infinity : Number(le) * scale, Math.round(value)]);
  }
  cumulative.sort((a, b) => a[0] - b[0]);
  const out: Histogram = [];
  const all: [number, number][] = [];
  let prev = 0;
  let lastFinite = 0;
  for (const [bound, cum] of cumulative) {
    const count = Math.max(0, cum - prev);
    prev = Math.max(prev, cum);
    if (Number.isFinite(bound)) lastFinite = bound;
    all.push([Number.isFinite(bound) ? bound : lastFinite, count]);
    if (count <= 0) continue;
    const value = Number.isFinite(bound) ? Number(bound.toPrecision(6)) : lastFinite;
    if (out.length > 0 && out[out.length - 1][0] === value) out[out.length - 1][1] += count;
    else out.push([value, count]);
  }
  return { histogram: out, all };
}

/**
 * As PromQL's histogram_quantile: linear interpolation inside the bucket holding the rank, over every
 * bucket (empty ones included, so each bucket's lower edge is the previous bound).
 */
function interpolatedQuantile(buckets: [number, number][], count: number, q: number): number | null {
  if (count === 0 || buckets.length === 0) return null;
  const rank = q * count;
  let seen = 0;
  let lower = 0;
  for (const [upper, n] of buckets) {
    if (n > 0 && seen + n >= rank) {
      const value = lower + ((upper - lower) * (rank - seen)) / n;
      return Number(value.toPrecision(4));
    }
    seen += n;
    lower = upper;
  }
  return buckets[buckets.length - 1][0];
}

function seriesKey(m: Record<string, string>): string {
  return Object.keys(m)
    .sort()
    .map((k) => `${k}=${m[k]}`)
    .join(',');
}

/** One gateway process's identity for one version: every label but the metric name and le. */
function instanceKey(m: Record<string, string>): string {
  return Object.keys(m)
    .filter((k) => k !== '__name__' && k !== 'le')
    .sort()
    .map((k) => `${k}=${m[k]}`)
    .join(',');
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

function escapeRegex(v: string): string {
  return escapeLabel(v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

// Metrics by query: each of the judge's metrics is read with the user's own PromQL templates (as
// Flagger's MetricTemplate), so the judge can compare versions on the series the team already has:
// the gateway implementation's (Envoy, Istio, NGINX...) and the agents' own task and quality series.
//
// Each metric has a kind, which says how its queries become the window's numbers:
//   proportion  two counters:        error_rate {total, bad}, task_success_rate {total, good}
//   histogram   cumulative buckets:  p99_latency_ms {buckets} (a `sum by (le)` query), unit s | ms
//   quantile    a value and a count: p99_latency_ms {value, count}, unit s | ms
//   mean        a sum and a count:   quality_score {sum, count, buckets?}
// Templates are evaluated as instant queries at the window's end, once per version, with
// {{version}} {{version_re}} {{agent}} {{namespace}} {{window}} substituted. A metric left out has
// no data, which the judge never counts as healthy.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SIGNAL_METRICS } from '../analysis/types';
import { errorKind, isRetryable, statusKind } from '../http-failure';
import { checkOutboundUrl, describeFetchError, outboundFetch } from '../outbound';
import { printable } from '../text/sanitize';
import { problemLines, problemsFromZod } from '../text/zod-problems';
import {
  emptySignalMetrics,
  emptyVersionMetrics,
  type SignalMetrics,
  MetricsConfigError,
  type MetricsQuery,
  type MetricsSource,
  type MetricsWindow,
  type VersionMetrics,
} from './types';
import { readCustom } from './prometheus-custom';
import { count, fromBuckets, total, type Sample } from './prometheus-samples';
export { fromBuckets } from './prometheus-samples';
import { BuiltinQueriesSchema, PLACEHOLDERS } from './prometheus-templates';

export const QueryConfigSchema = z
  .object({
    /** Substituted for {{namespace}}: where the agents run. */
    namespace: z.string().min(1).max(253).default('default'),
    timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    metrics: BuiltinQueriesSchema,
  })
  .strict();
export type QueryConfig = z.infer<typeof QueryConfigSchema>;

/** Validates a parsed config; every problem in one message, each naming its field. */
export function parseQueryConfig(raw: unknown, source = 'prometheus queries'): QueryConfig {
  const parsed = QueryConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new MetricsConfigError(`${source}:\n${problemLines(problemsFromZod(parsed.error, '(top level)'))}`);
  }
  return parsed.data;
}

/** Reads a YAML or JSON file of query templates. */
export function loadQueryConfig(file: string): QueryConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MetricsConfigError(
      `prometheus queries: cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new MetricsConfigError(
      `prometheus queries: ${file} is not YAML or JSON: ${(err as Error).message}`,
    );
  }
  return parseQueryConfig(raw, `prometheus queries in ${file}`);
}

export interface PrometheusQueryOptions {
  /** Prometheus base URL (http or https), e.g. http://prometheus.monitoring:9090 */
  url: string;
  config: QueryConfig;
  headers?: Record<string, string>;
}

export class PrometheusQueryMetricsSource implements MetricsSource {
  readonly readsPlanQueries = true;
  private readonly base: string;

  constructor(private readonly options: PrometheusQueryOptions) {
    let u: URL;
    try {
      u = checkOutboundUrl(options.url);
    } catch (err) {
      throw new MetricsConfigError(`prometheus url ${(err as Error).message}`);
    }
    this.base = u.href.replace(/\/+$/, '');
  }

  async fetch(q: MetricsQuery): Promise<MetricsWindow> {
    const [stable, canary] = await Promise.all([this.version(q, q.stable), this.version(q, q.canary)]);
    return { agent: q.agent, since: q.since, until: q.until, stable, canary };
  }

  /** Runs every template once for the stable version: PromQL errors are named per metric and field. */
  async preflight(agent: string, versions: { stable: string; canary: string }): Promise<string[]> {
    const now = Date.now();
    const problems: string[] = [];
    for (const [metric, field, template] of this.templates()) {
      try {
        await this.query(
          this.render(template, { agent, version: versions.stable, sinceMs: now - 60_000, untilMs: now }),
          now,
        );
      } catch (err) {
        if (err instanceof MetricsConfigError) problems.push(`${metric}.${field}: ${err.message}`);
        else throw err;
      }
    }
    return problems;
  }

  private *templates(): Generator<[string, string, string]> {
    for (const [metric, spec] of Object.entries(this.options.config.metrics)) {
      for (const [field, value] of Object.entries(spec ?? {})) {
        if (field !== 'kind' && field !== 'unit' && typeof value === 'string') yield [metric, field, value];
      }
    }
  }

  private async version(q: MetricsQuery, version: string): Promise<VersionMetrics> {
    // The plan's own templates (analysis.queries) take precedence, metric by metric.
    const m = { ...this.options.config.metrics, ...q.queries };
    const ctx = { agent: q.agent, version, sinceMs: q.since, untilMs: q.until };
    const run = async (metric: string, field: string, template: string) => {
      try {
        return await this.query(this.render(template, ctx), q.until);
      } catch (err) {
        const e = err as Error;
        const Kind = err instanceof MetricsConfigError ? MetricsConfigError : Error;
        throw new Kind(`prometheus-query ${metric}.${field} (version ${version}): ${e.message}`);
      }
    };
    const scalar = async (metric: string, field: string, template: string) =>
      total(await run(metric, field, template));
    const out = emptyVersionMetrics(version);

    const tasks: Promise<void>[] = [];
    if (m.error_rate) {
      const e = m.error_rate;
      tasks.push(
        Promise.all([scalar('error_rate', 'total', e.total), scalar('error_rate', 'bad', e.bad)]).then(
          ([t, b]) => {
            out.requests = count(t);
            out.errors = Math.min(out.requests, count(b));
          },
        ),
      );
    }
    if (m.task_success_rate) {
      const t = m.task_success_rate;
      tasks.push(
        Promise.all([
          scalar('task_success_rate', 'total', t.total),
          scalar('task_success_rate', 'good', t.good),
        ]).then(([n, g]) => {
          out.taskSuccess.total = count(n);
          out.taskSuccess.successes = Math.min(out.taskSuccess.total, count(g));
        }),
      );
    }
    if (m.p99_latency_ms) {
      const l = m.p99_latency_ms;
      const scale = l.unit === 's' ? 1000 : 1;
      if (l.kind === 'histogram') {
        tasks.push(
          run('p99_latency_ms', 'buckets', l.buckets).then((samples) => {
            const h = fromBuckets(samples, scale);
            out.latencyMs = { count: h.count, p50: null, p99: null, histogram: h.histogram };
          }),
        );
      } else {
        tasks.push(
          Promise.all([
            run('p99_latency_ms', 'value', l.value),
            scalar('p99_latency_ms', 'count', l.count),
          ]).then(([v, n]) => {
            const p99 = v.length > 0 ? Number(v[0].value[1]) * scale : null;
            out.latencyMs = {
              count: count(n),
              p50: null,
              p99: p99 !== null && Number.isFinite(p99) ? p99 : null,
              histogram: [],
            };
          }),
        );
      }
    }
    if (m.quality_score) {
      const s = m.quality_score;
      tasks.push(
        Promise.all([
          scalar('quality_score', 'sum', s.sum),
          scalar('quality_score', 'count', s.count),
          s.buckets ? run('quality_score', 'buckets', s.buckets) : Promise.resolve([]),
        ]).then(([sum, n, buckets]) => {
          out.quality = {
            count: count(n),
            sum: Number.isFinite(sum) ? sum : 0,
            histogram: fromBuckets(buckets, 1).histogram,
          };
        }),
      );
    }
    tasks.push(
      readSignals(m, run, scalar).then((signals) => {
        if (signals) out.signals = signals;
      }),
    );
    if (q.custom && q.custom.length > 0) {
      tasks.push(
        readCustom(q.custom, (name, field, template) => run(`custom.${name}`, field, template)).then(
          (custom) => {
            out.custom = custom;
          },
        ),
      );
    }
    await Promise.all(tasks);
    return out;
  }

  private render(
    template: string,
    c: { agent: string; version: string; sinceMs: number; untilMs: number },
  ): string {
    const values: Record<(typeof PLACEHOLDERS)[number], string> = {
      version: escapeLabel(c.version),
      version_re: escapeLabel(escapeRegex(c.version)),
      agent: escapeLabel(c.agent),
      namespace: escapeLabel(this.options.config.namespace),
      window: `${Math.max(1, Math.ceil((c.untilMs - c.sinceMs) / 1000))}s`,
    };
    return template.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (_, p: keyof typeof values) => values[p]);
  }

  private async query(query: string, atMs: number): Promise<Sample[]> {
    let res: Response;
    const timeoutMs = this.options.config.timeoutMs;
    try {
      // Through the outbound policy: a redirect is refused, never followed with our headers.
      res = await outboundFetch(`${this.base}/api/v1/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...this.options.headers },
        body: new URLSearchParams({ query, time: (atMs / 1000).toFixed(3) }),
        timeoutMs,
      });
    } catch (err) {
      const message = `prometheus unreachable: ${describeFetchError(err, timeoutMs)}`;
      throw isRetryable(errorKind(err)) ? new Error(message) : new MetricsConfigError(message);
    }
    // Bad credentials, a wrong URL, a query that is wrong (400/422: syntax, types): retrying cannot
    // fix them (src/http-failure.ts).
    const Failure = isRetryable(statusKind(res.status)) ? Error : MetricsConfigError;
    const text = await res.text();
    let json: { status?: string; error?: string; data?: { resultType?: string; result?: unknown } };
    try {
      json = JSON.parse(text);
    } catch {
      // The body is not ours to echo (a proxy's error page may quote anything).
      throw new Failure(`prometheus answered HTTP ${res.status} with non-JSON (${text.length} bytes)`);
    }
    if (json.status !== 'success' || !json.data) {
      const reason = typeof json.error === 'string' ? printable(json.error, 300) : '';
      throw new Failure(`HTTP ${res.status} ${reason}`.trim());
    }
    const { resultType, result } = json.data;
    if (resultType === 'scalar' && Array.isArray(result))
      return [{ metric: {}, value: result as [number, string] }];
    if (resultType !== 'vector') {
      throw new MetricsConfigError(`query must return an instant vector or a scalar, not a ${resultType}`);
    }
    return result as Sample[];
  }
}

type Templates = z.infer<typeof BuiltinQueriesSchema>;

/**
 * The metrics read from the answers, from their templates (e.g. the GenAI series of
 * examples/prometheus-genai.yaml); undefined when none is configured.
 */
async function readSignals(
  m: Templates,
  run: (metric: string, field: string, template: string) => Promise<Sample[]>,
  scalar: (metric: string, field: string, template: string) => Promise<number>,
): Promise<SignalMetrics | undefined> {
  const named = SIGNAL_METRICS.filter((k) => m[k] !== undefined);
  if (named.length === 0) return undefined;
  const sig = emptySignalMetrics();
  const mean = async (metric: 'cost_per_request' | 'output_tokens' | 'input_tokens') => {
    const t = m[metric]!;
    const [sum, n, buckets] = await Promise.all([
      scalar(metric, 'sum', t.sum),
      scalar(metric, 'count', t.count),
      t.buckets ? run(metric, 'buckets', t.buckets) : Promise.resolve([]),
    ]);
    const h = fromBuckets(buckets, 1).histogram;
    return {
      count: count(n),
      sum: Number.isFinite(sum) && sum > 0 ? sum : 0,
      ...(h.length > 0 ? { histogram: h } : {}),
    };
  };
  const proportion = async (metric: 'tool_error_rate' | 'truncation_rate') => {
    const t = m[metric]!;
    const [n, bad] = await Promise.all([scalar(metric, 'total', t.total), scalar(metric, 'bad', t.bad)]);
    return [count(n), Math.min(count(n), count(bad))] as const;
  };
  await Promise.all([
    m.cost_per_request && mean('cost_per_request').then((v) => (sig.cost = v)),
    m.output_tokens && mean('output_tokens').then((v) => (sig.outputTokens = v)),
    m.input_tokens && mean('input_tokens').then((v) => (sig.inputTokens = v)),
    m.ttft_p99_ms &&
      run('ttft_p99_ms', 'buckets', m.ttft_p99_ms.buckets).then((samples) => {
        sig.ttftMs = fromBuckets(samples, m.ttft_p99_ms!.unit === 's' ? 1000 : 1);
      }),
    m.tool_error_rate &&
      proportion('tool_error_rate').then(([calls, errors]) => (sig.tools = { calls, errors })),
    m.truncation_rate &&
      proportion('truncation_rate').then(([n, truncated]) => (sig.finish = { count: n, truncated })),
  ]);
  sig.answers = Math.max(sig.outputTokens.count, sig.inputTokens.count, sig.ttftMs.count, sig.finish.count);
  return sig;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

function escapeRegex(v: string): string {
  return v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// Metrics backend over the agent-canary gateway's admin API: per-version aggregates by time range.
import { z } from 'zod';
import { errorKind, isRetryable, statusKind } from '../http-failure';
import { OutboundUrlError, describeFetchError, outboundFetch, safeErrorReason } from '../outbound';
import { gatewayPreflight } from '../router/gateway';
import { signalPreflight } from './signal-preflight';
import {
  EvaluatorWindowSchema,
  ShadowWindowSchema,
  VersionMetricsSchema,
  emptyVersionMetrics,
  type MetricsQuery,
  type MetricsSource,
  type MetricsWindow,
  MetricsConfigError,
} from './types';
import { describeZodError } from '../text/zod-problems';

export interface GatewayMetricsOptions {
  url: string;
  token: string;
  timeoutMs?: number;
}

const AnswerSchema = z.object({
  agent: z.string(),
  since: z.number(),
  until: z.number(),
  /** When the gateway's metrics begin (its start, metrics being in memory). */
  dataSince: z.number().optional(),
  /** Where late outcomes count (absent from gateways before it: on arrival, as far as we know). */
  outcomesAt: z.enum(['request', 'arrival']).optional(),
  versions: z.record(z.string(), VersionMetricsSchema),
  evaluator: EvaluatorWindowSchema.optional(),
  shadow: z
    .object({
      versions: z.record(z.string(), VersionMetricsSchema),
      pairs: ShadowWindowSchema.shape.pairs,
      lossReasons: ShadowWindowSchema.shape.lossReasons,
    })
    .optional(),
});

/** Thrown for answers retrying cannot fix (bad token, unknown agent): 4xx from the gateway. */
export class MetricsQueryError extends MetricsConfigError {
  override name = 'MetricsQueryError';
}

export class GatewayMetricsSource implements MetricsSource {
  private readonly base: string;

  constructor(private readonly options: GatewayMetricsOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  /** The same check as GatewayRouter.preflight: token, agent and both versions on the gateway. */
  async preflight(
    agent: string,
    versions: { stable: string; canary: string },
    signals: string[] = [],
  ): Promise<string[]> {
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const problems = await gatewayPreflight(this.base, this.options.token, agent, versions, timeoutMs);
    if (problems.length > 0 || signals.length === 0) return problems;
    const { token } = this.options;
    return signalPreflight({ base: this.base, token, agent, versions, metrics: signals, timeoutMs });
  }

  async fetch(q: MetricsQuery): Promise<MetricsWindow> {
    const what = `gateway metrics for ${q.agent}`;
    const url = `${this.base}/v1/admin/agents/${encodeURIComponent(q.agent)}/metrics?since=${q.since}&until=${q.until}&canary=${encodeURIComponent(q.canary)}`;
    let res: Response;
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    try {
      res = await outboundFetch(url, {
        headers: { authorization: `Bearer ${this.options.token}` },
        timeoutMs,
      });
    } catch (err) {
      if (err instanceof OutboundUrlError) throw new MetricsQueryError(`${what}: the URL ${err.message}`);
      const message = `${what}: ${describeFetchError(err, timeoutMs)}`;
      throw isRetryable(errorKind(err)) ? new Error(message) : new MetricsQueryError(message);
    }
    if (!res.ok) {
      const reason = safeErrorReason(await res.text().catch(() => ''), 300);
      const message = `${what}: HTTP ${res.status}${reason ? ` ${reason}` : ''}`;
      throw isRetryable(statusKind(res.status)) ? new Error(message) : new MetricsQueryError(message);
    }
    const parsed = AnswerSchema.safeParse(await res.json());
    if (!parsed.success) throw new Error(`${what}: unexpected answer: ${describeZodError(parsed.error)}`);
    const v = parsed.data.versions;
    return {
      agent: q.agent,
      since: q.since,
      until: q.until,
      stable: v[q.stable] ?? emptyVersionMetrics(q.stable),
      canary: v[q.canary] ?? emptyVersionMetrics(q.canary),
      ...(parsed.data.dataSince !== undefined && parsed.data.dataSince > q.since
        ? { coveredSince: parsed.data.dataSince }
        : {}),
      ...(parsed.data.evaluator ? { evaluator: parsed.data.evaluator } : {}),
      ...(parsed.data.outcomesAt ? { outcomesAt: parsed.data.outcomesAt } : {}),
      ...(parsed.data.shadow
        ? {
            shadow: {
              canary: parsed.data.shadow.versions[q.canary] ?? emptyVersionMetrics(q.canary),
              pairs: parsed.data.shadow.pairs,
              ...(parsed.data.shadow.lossReasons ? { lossReasons: parsed.data.shadow.lossReasons } : {}),
            },
          }
        : {}),
    };
  }
}

// Metrics backend over the agent-canary gateway's admin API: per-version aggregates by time range.
import { z } from 'zod';
import {
  VersionMetricsSchema,
  emptyVersionMetrics,
  type MetricsQuery,
  type MetricsSource,
  type MetricsWindow,
  MetricsConfigError,
} from './types';

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
  versions: z.record(z.string(), VersionMetricsSchema),
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

  async fetch(q: MetricsQuery): Promise<MetricsWindow> {
    const what = `gateway metrics for ${q.agent}`;
    const url = `${this.base}/v1/admin/agents/${encodeURIComponent(q.agent)}/metrics?since=${q.since}&until=${q.until}`;
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { authorization: `Bearer ${this.options.token}` },
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      throw new Error(`${what}: ${e.name === 'TimeoutError' ? 'timed out' : (e.cause?.code ?? e.message)}`);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      const message = `${what}: HTTP ${res.status} ${text.slice(0, 300)}`;
      throw res.status >= 400 && res.status < 500 ? new MetricsQueryError(message) : new Error(message);
    }
    const parsed = AnswerSchema.safeParse(await res.json());
    if (!parsed.success) throw new Error(`${what}: unexpected answer: ${parsed.error.message}`);
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
    };
  }
}

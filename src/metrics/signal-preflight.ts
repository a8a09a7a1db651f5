// Before a rollout that judges metrics read from the answers (tokens, cost, TTFT, tool errors,
// truncation): can this gateway's traffic provide them? A plan naming one the traffic cannot give
// would sit on "no data" until it pauses; it is refused at the start instead, naming the metric.
// Evidence is the stable's own traffic over the last hours (the canary has none yet): a stable that
// served answers and none of them said it is the refusal; no traffic at all proves nothing either
// way and refuses nothing. Prices are config, so a version without one is refused for cost at once.
import { z } from 'zod';
import { signalValue } from '../analysis/signals';
import { SIGNAL_METRICS, type MetricName } from '../analysis/types';
import { outboundFetch } from '../outbound';
import { VersionMetricsSchema } from './types';

/** How far back the stable's answers are looked at. */
export const SIGNAL_LOOKBACK_MS = 6 * 3_600_000;
/** Fewer stable answers than this show nothing about what the traffic can provide. */
export const SIGNAL_MIN_ANSWERS = 20;

const VersionsSchema = z.object({
  versions: z.array(z.object({ name: z.string(), priced: z.boolean().optional() })),
  usage: z.boolean().optional(),
  modelPrices: z.number().optional(),
});
const MetricsSchema = z.object({ versions: z.record(z.string(), VersionMetricsSchema) });

/** What each metric needs the answers to say, for the refusal. */
const NEEDS: Record<(typeof SIGNAL_METRICS)[number], string> = {
  cost_per_request: 'said its tokens with a price for its version or model',
  output_tokens: 'said its tokens (a usage object; streams need stream_options.include_usage)',
  input_tokens: 'said its tokens (a usage object; streams need stream_options.include_usage)',
  ttft_p99_ms: 'was a stream (text/event-stream) of a shape the gateway reads',
  tool_error_rate: 'asked for a tool call',
  truncation_rate: 'said how it ended (a finish or stop reason)',
};

export async function signalPreflight(opts: {
  base: string;
  token: string;
  agent: string;
  versions: { stable: string; canary: string };
  metrics: string[];
  timeoutMs: number;
  now?: number;
}): Promise<string[]> {
  const named = opts.metrics.filter((m): m is (typeof SIGNAL_METRICS)[number] =>
    (SIGNAL_METRICS as readonly string[]).includes(m),
  );
  if (named.length === 0) return [];
  const agentPath = `${opts.base}/v1/admin/agents/${encodeURIComponent(opts.agent)}`;
  const get = async (url: string) => {
    const res = await outboundFetch(url, {
      headers: { authorization: `Bearer ${opts.token}` },
      timeoutMs: opts.timeoutMs,
    });
    if (!res.ok) throw new Error(`gateway answered HTTP ${res.status} to ${url.replace(opts.base, '')}`);
    return res.json() as Promise<unknown>;
  };
  const problems: string[] = [];
  const config = VersionsSchema.safeParse(await get(`${agentPath}/versions`));
  if (!config.success || config.data.usage === undefined) {
    return named.map((m) => `${m}: this gateway does not read usage from the answers (an older version)`);
  }
  if (!config.data.usage) {
    return named.map((m) => `${m}: the gateway's config turns reading the answers off (usage: false)`);
  }
  if (named.includes('cost_per_request') && (config.data.modelPrices ?? 0) === 0) {
    for (const v of [opts.versions.stable, opts.versions.canary]) {
      const entry = config.data.versions.find((x) => x.name === v);
      if (entry && !entry.priced) {
        problems.push(
          `cost_per_request: version "${v}" has no price: set agents.${opts.agent}.versions.${v}.price ` +
            '{ inputPerMTok, outputPerMTok } in the gateway config (or prices by model)',
        );
      }
    }
  }
  const now = opts.now ?? Date.now();
  const since = now - SIGNAL_LOOKBACK_MS;
  const data = MetricsSchema.safeParse(await get(`${agentPath}/metrics?since=${since}&until=${now}`));
  if (!data.success) return [...problems, 'the gateway answered its metrics API with something unexpected'];
  const stable = data.data.versions[opts.versions.stable];
  if (!stable || stable.requests < SIGNAL_MIN_ANSWERS) return problems;
  for (const m of named) {
    if (signalValue(stable, m as MetricName).samples > 0) continue;
    if (problems.some((p) => p.startsWith(`${m}:`))) continue;
    problems.push(
      `${m}: none of the ${stable.requests} answers of stable "${opts.versions.stable}" in the last ` +
        `${SIGNAL_LOOKBACK_MS / 3_600_000}h ${NEEDS[m]}: the traffic cannot provide it; drop it from analysis.metrics`,
    );
  }
  return problems;
}

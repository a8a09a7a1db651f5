// The answers' signals (src/gateway/usage.ts) per second and since start, beside the request counts
// of metrics-store.ts: a second's sums for the judge's time ranges, cumulative histograms in
// OpenTelemetry's GenAI names for /metrics. Only answers that said something are counted.
import { z } from 'zod';
import type { SignalMetrics } from '../metrics/types';
import { FINE_BOUNDS, fineIndex, quantile, roundMs, toPairs } from './histogram';
import type { Usage } from './usage';

/** One answer's signals as the series records them (usage and its cost, when priced). */
export interface AnswerSignals {
  usage: Usage;
  cost?: number;
  /** ms from the request to the end of the answer. */
  durationMs: number;
}

/** One second's (or minute's) sums; allocated only for seconds that saw a readable answer. */
export class SignalAgg {
  answers = 0;
  tokens = 0;
  inSum = 0;
  inSq = 0;
  outSum = 0;
  outSq = 0;
  costCount = 0;
  costSum = 0;
  costSq = 0;
  ttftCount = 0;
  ttft = new Map<number, number>();
  toolCalls = 0;
  toolErrors = 0;
  finished = 0;
  truncated = 0;
  /** Cost per successful task: priced answers whose task got positive feedback or evaluation. */
  successCostCount = 0;
  successCostSum = 0;
  successCostSq = 0;

  recordSuccessCost(cost: number): void {
    this.successCostCount++;
    this.successCostSum += cost;
    this.successCostSq += cost * cost;
  }

  record(a: AnswerSignals): void {
    const u = a.usage;
    this.answers++;
    if (u.inputTokens !== undefined && u.outputTokens !== undefined) {
      this.tokens++;
      this.inSum += u.inputTokens;
      this.inSq += u.inputTokens * u.inputTokens;
      this.outSum += u.outputTokens;
      this.outSq += u.outputTokens * u.outputTokens;
    }
    if (a.cost !== undefined) {
      this.costCount++;
      this.costSum += a.cost;
      this.costSq += a.cost * a.cost;
    }
    if (u.firstTokenMs !== undefined) {
      const i = fineIndex(u.firstTokenMs);
      this.ttft.set(i, (this.ttft.get(i) ?? 0) + 1);
      this.ttftCount++;
    }
    this.toolCalls += u.toolCalls;
    this.toolErrors += u.toolErrors;
    if (u.finish !== undefined) {
      this.finished++;
      if (u.finish === 'length' || u.finish === 'filtered') this.truncated++;
    }
  }

  add(o: SignalAgg): void {
    this.answers += o.answers;
    this.tokens += o.tokens;
    this.inSum += o.inSum;
    this.inSq += o.inSq;
    this.outSum += o.outSum;
    this.outSq += o.outSq;
    this.costCount += o.costCount;
    this.costSum += o.costSum;
    this.costSq += o.costSq;
    this.ttftCount += o.ttftCount;
    for (const [k, n] of o.ttft) this.ttft.set(k, (this.ttft.get(k) ?? 0) + n);
    this.toolCalls += o.toolCalls;
    this.toolErrors += o.toolErrors;
    this.finished += o.finished;
    this.truncated += o.truncated;
    this.successCostCount += o.successCostCount;
    this.successCostSum += o.successCostSum;
    this.successCostSq += o.successCostSq;
  }

  /** What the judge reads. */
  metrics(): SignalMetrics {
    const ttft = toPairs(this.ttft, (i) => roundMs(FINE_BOUNDS[i]));
    return {
      answers: this.answers,
      inputTokens: { count: this.tokens, sum: this.inSum, sumSquares: this.inSq },
      outputTokens: { count: this.tokens, sum: this.outSum, sumSquares: this.outSq },
      cost: { count: this.costCount, sum: this.costSum, sumSquares: this.costSq },
      ttftMs: { count: this.ttftCount, histogram: ttft },
      tools: { calls: this.toolCalls, errors: this.toolErrors },
      finish: { count: this.finished, truncated: this.truncated },
      successCost: { count: this.successCostCount, sum: this.successCostSum, sumSquares: this.successCostSq },
    };
  }

  /** For the journal (one gateway's file, or the replicas' shared table). */
  toRecord(): SignalRecord {
    return {
      answers: this.answers,
      tokens: this.tokens,
      inSum: this.inSum,
      inSq: this.inSq,
      outSum: this.outSum,
      outSq: this.outSq,
      costCount: this.costCount,
      costSum: this.costSum,
      costSq: this.costSq,
      ttft: [...this.ttft],
      toolCalls: this.toolCalls,
      toolErrors: this.toolErrors,
      finished: this.finished,
      truncated: this.truncated,
      ...(this.successCostCount > 0
        ? {
            successCostCount: this.successCostCount,
            successCostSum: this.successCostSum,
            successCostSq: this.successCostSq,
          }
        : {}),
    };
  }

  static of(r: SignalRecord): SignalAgg {
    const a = new SignalAgg();
    Object.assign(a, { ...r, ttft: new Map(r.ttft) });
    // The record keeps the histogram only; its count is the histogram's total.
    for (const [, n] of r.ttft) a.ttftCount += n;
    return a;
  }
}

const Count = z.number().int().nonnegative();
const Sum = z.number().nonnegative().finite();

/** A second's signals in the metrics journal; ttft keys are fine bucket indices, as latency's. */
export const SignalRecordSchema = z.object({
  answers: Count,
  tokens: Count,
  inSum: Sum,
  inSq: Sum,
  outSum: Sum,
  outSq: Sum,
  costCount: Count,
  costSum: Sum,
  costSq: Sum,
  ttft: z.array(z.tuple([z.number().int().nonnegative(), Count])).max(10_000),
  toolCalls: Count,
  toolErrors: Count,
  finished: Count,
  truncated: Count,
  // Absent in records written before cost per successful task was kept.
  successCostCount: Count.optional(),
  successCostSum: Sum.optional(),
  successCostSq: Sum.optional(),
});
export type SignalRecord = z.infer<typeof SignalRecordSchema>;

// OpenTelemetry's advised bucket boundaries for the GenAI client metrics.
export const GENAI_TOKEN_BOUNDS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
export const GENAI_SECONDS_BOUNDS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

class Hist {
  readonly buckets: Float64Array;
  count = 0;
  sum = 0;
  constructor(private readonly bounds: number[]) {
    this.buckets = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    let b = 0;
    while (b < this.bounds.length && v > this.bounds[b]) b++;
    this.buckets[b]++;
    this.count++;
    this.sum += v;
  }
  lines(name: string, labels: string, out: string[]): void {
    let cum = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cum += this.buckets[i];
      out.push(`${name}_bucket{${labels},le="${this.bounds[i]}"} ${cum}`);
    }
    out.push(`${name}_bucket{${labels},le="+Inf"} ${this.count}`);
    out.push(
      `${name}_sum{${labels}} ${Number(this.sum.toPrecision(15))}`,
      `${name}_count{${labels}} ${this.count}`,
    );
  }
}

/** Since start, for Prometheus: the GenAI convention histograms and the gateway's own counters. */
export class SignalTotals {
  readonly input = new Hist(GENAI_TOKEN_BOUNDS);
  readonly output = new Hist(GENAI_TOKEN_BOUNDS);
  readonly duration = new Hist(GENAI_SECONDS_BOUNDS);
  readonly firstChunk = new Hist(GENAI_SECONDS_BOUNDS);
  readonly all = new SignalAgg();

  record(a: AnswerSignals): void {
    const u = a.usage;
    if (u.inputTokens !== undefined && u.outputTokens !== undefined) {
      this.input.observe(u.inputTokens);
      this.output.observe(u.outputTokens);
    }
    this.duration.observe(a.durationMs / 1000);
    if (u.firstTokenMs !== undefined) this.firstChunk.observe(u.firstTokenMs / 1000);
    this.all.answers++;
    this.all.toolCalls += u.toolCalls;
    this.all.toolErrors += u.toolErrors;
    if (u.finish !== undefined) {
      this.all.finished++;
      if (u.finish === 'length' || u.finish === 'filtered') this.all.truncated++;
    }
    if (a.cost !== undefined) {
      this.all.costCount++;
      this.all.costSum += a.cost;
    }
  }
}

export interface SignalSeries {
  agent: string;
  version: string;
  signalTotals: SignalTotals;
}

/**
 * The GenAI series (names as OpenTelemetry's Prometheus exporter writes them) and the gateway's
 * counters of tool calls, finish reasons and cost, labelled by agent and version.
 */
export function renderSignals(all: SignalSeries[], esc: (v: string) => string): string[] {
  const out: string[] = [];
  const seen = all.filter((s) => s.signalTotals.all.answers > 0);
  const labels = (s: SignalSeries) => `agent="${esc(s.agent)}",version="${esc(s.version)}"`;
  const hist = (name: string, help: string, pick: (s: SignalSeries) => [string, Hist][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    for (const s of seen) for (const [extra, h] of pick(s)) h.lines(name, labels(s) + extra, out);
  };
  hist('gen_ai_client_token_usage', 'Tokens per answer (OpenTelemetry GenAI).', (s) => [
    [',gen_ai_token_type="input"', s.signalTotals.input],
    [',gen_ai_token_type="output"', s.signalTotals.output],
  ]);
  hist(
    'gen_ai_client_operation_duration_seconds',
    'Time to the end of each readable answer (OpenTelemetry GenAI).',
    (s) => [['', s.signalTotals.duration]],
  );
  hist(
    'gen_ai_client_operation_time_to_first_chunk_seconds',
    'Time to the first output of each streamed answer (OpenTelemetry GenAI).',
    (s) => [['', s.signalTotals.firstChunk]],
  );
  const counter = (name: string, help: string, value: (a: SignalAgg) => number) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const s of seen)
      out.push(`${name}{${labels(s)}} ${Number(value(s.signalTotals.all).toPrecision(15))}`);
  };
  counter(
    'agent_canary_answers_read_total',
    'Answers whose usage, finish or tool calls were read.',
    (a) => a.answers,
  );
  counter('agent_canary_tool_calls_total', 'Tool calls in answers.', (a) => a.toolCalls);
  counter(
    'agent_canary_tool_errors_total',
    'Tool calls whose arguments are not a JSON object.',
    (a) => a.toolErrors,
  );
  counter('agent_canary_answers_finished_total', 'Answers with a finish reason.', (a) => a.finished);
  counter(
    'agent_canary_answers_truncated_total',
    'Answers cut off: out of tokens or by a filter.',
    (a) => a.truncated,
  );
  counter('agent_canary_cost_total', 'Cost of priced answers (the config price currency).', (a) => a.costSum);
  counter('agent_canary_priced_answers_total', 'Answers with tokens and a price.', (a) => a.costCount);
  counter(
    'agent_canary_successful_task_cost_total',
    'Cost of priced answers whose task got positive feedback or evaluation.',
    (a) => a.successCostSum,
  );
  counter(
    'agent_canary_successful_tasks_priced_total',
    'Priced answers whose task got positive feedback or evaluation.',
    (a) => a.successCostCount,
  );
  return out;
}

/** p99 of a signals' TTFT, for display. */
export function ttftP99(m: SignalMetrics): number | null {
  return quantile(m.ttftMs.histogram, m.ttftMs.count, 0.99);
}

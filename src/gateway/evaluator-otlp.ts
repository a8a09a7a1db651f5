// OpenTelemetry `gen_ai.evaluation.result` events (OTLP/HTTP JSON logs) turned into outcomes of the
// requests they name, so that any evaluator (Langfuse, Phoenix, ADK, a team's own) feeds the same
// metrics as the gateway's own evaluator and POST /v1/feedback. Parsing only; the route joins.
import { z } from 'zod';
import { QUALITY_LIMIT } from './histogram';
import type { EvaluationTarget } from './evaluator-config';
import { REQUEST_ID } from './proxy';

export const EVALUATION_EVENT = 'gen_ai.evaluation.result';
/** Records accepted per export call (an OTLP exporter batches 512 by default). */
const MAX_RECORDS = 10_000;

const AnyValue = z.looseObject({
  stringValue: z.string().max(10_000).optional(),
  boolValue: z.boolean().optional(),
  intValue: z.union([z.string().max(30), z.number()]).optional(),
  doubleValue: z.union([z.number(), z.string().max(30)]).optional(),
});
const KeyValue = z.looseObject({ key: z.string().max(256), value: AnyValue.optional() });
const LogRecord = z.looseObject({
  eventName: z.string().max(256).optional(),
  attributes: z.array(KeyValue).max(256).optional(),
});
export const ExportLogsSchema = z.looseObject({
  resourceLogs: z
    .array(
      z.looseObject({
        scopeLogs: z
          .array(z.looseObject({ logRecords: z.array(LogRecord).max(MAX_RECORDS).optional() }))
          .max(1000)
          .optional(),
      }),
    )
    .max(1000)
    .optional(),
});
type LogRecord = z.infer<typeof LogRecord>;

/** One evaluation event as an outcome of one request. */
export interface EvaluationOutcome {
  requestId: string;
  name: string;
  taskSuccess?: boolean;
  qualityScore?: number;
}

export interface ParsedEvaluations {
  outcomes: EvaluationOutcome[];
  /** Evaluation events that could not be used, with why (counted as rejected in the answer). */
  rejected: string[];
}

function attr(r: LogRecord, key: string): z.infer<typeof AnyValue> | undefined {
  return r.attributes?.find((a) => a.key === key)?.value;
}

function stringOf(v: z.infer<typeof AnyValue> | undefined): string | undefined {
  return typeof v?.stringValue === 'string' ? v.stringValue : undefined;
}

function numberOf(v: z.infer<typeof AnyValue> | undefined): number | undefined {
  const raw = v?.doubleValue ?? v?.intValue;
  if (raw === undefined) return undefined;
  const n = typeof raw === 'number' ? raw : Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

const PASS = new Set(['pass', 'passed', 'success', 'succeeded', 'true', 'yes', 'correct']);
const FAIL = new Set(['fail', 'failed', 'failure', 'false', 'no', 'incorrect']);

/**
 * The evaluation events of an OTLP logs export, each mapped by its `gen_ai.evaluation.name` to a
 * metric (`names`). The request is `agent_canary.request_id` or else `gen_ai.response.id` (the
 * gateway's `x-request-id`). Task success reads `gen_ai.evaluation.score.label` (pass/fail...) or
 * else a score of at least 0.5. Other log records are not evaluation events and are ignored.
 */
export function parseEvaluations(
  doc: z.infer<typeof ExportLogsSchema>,
  names: Record<string, EvaluationTarget>,
): ParsedEvaluations {
  const outcomes: EvaluationOutcome[] = [];
  const rejected: string[] = [];
  let seen = 0;
  for (const rl of doc.resourceLogs ?? []) {
    for (const sl of rl.scopeLogs ?? []) {
      for (const r of sl.logRecords ?? []) {
        const event = r.eventName ?? stringOf(attr(r, 'event.name'));
        if (event !== EVALUATION_EVENT) continue;
        if (++seen > MAX_RECORDS) {
          rejected.push(`more than ${MAX_RECORDS} evaluation events in one export`);
          continue;
        }
        const name = stringOf(attr(r, 'gen_ai.evaluation.name'));
        if (!name) {
          rejected.push('gen_ai.evaluation.name missing');
          continue;
        }
        const target = Object.hasOwn(names, name) ? names[name] : undefined;
        if (!target) {
          rejected.push(`evaluation name ${JSON.stringify(name.slice(0, 100))} is mapped to no metric`);
          continue;
        }
        const requestId =
          stringOf(attr(r, 'agent_canary.request_id')) ?? stringOf(attr(r, 'gen_ai.response.id'));
        if (!requestId || !REQUEST_ID.test(requestId)) {
          rejected.push('no request id (agent_canary.request_id or gen_ai.response.id)');
          continue;
        }
        const score = numberOf(attr(r, 'gen_ai.evaluation.score.value'));
        const label = stringOf(attr(r, 'gen_ai.evaluation.score.label'))?.toLowerCase();
        if (target === 'quality_score') {
          if (score === undefined || Math.abs(score) > QUALITY_LIMIT) {
            rejected.push(`${name}: gen_ai.evaluation.score.value missing or beyond ±${QUALITY_LIMIT}`);
            continue;
          }
          outcomes.push({ requestId, name, qualityScore: score });
          continue;
        }
        const success =
          label !== undefined && PASS.has(label)
            ? true
            : label !== undefined && FAIL.has(label)
              ? false
              : score !== undefined
                ? score >= 0.5
                : undefined;
        if (success === undefined) {
          rejected.push(`${name}: neither a pass/fail label nor a score`);
          continue;
        }
        outcomes.push({ requestId, name, taskSuccess: success });
      }
    }
  }
  return { outcomes, rejected };
}

// PromQL templates and the plan's custom metrics (`analysis.custom`), as pure schemas: the plan
// schema imports this module and the workflow re-checks plans, so no I/O and no Node module here.
//
// A custom metric is read from Prometheus once per version with {{version}} {{version_re}} {{agent}}
// {{namespace}} {{window}} substituted (as Flagger's MetricTemplate), and judged like the built-ins:
//   proportion  two counters    query.total, query.matching   (matching/total, e.g. over-budget tasks)
//   mean        a sum, a count  query.sum, query.count, query.buckets (the spread, for the statistical judge)
//   quantile    a histogram     query.buckets (a `sum by (le)` query), `quantile` (default 0.99)
// `direction` says which way is better: `lower` for cost or tokens per task, `higher` for a score.
import { z } from 'zod';

export const PLACEHOLDERS = ['version', 'version_re', 'agent', 'namespace', 'window'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** A query is sent on every check and kept in history: long enough for real PromQL, no more. */
export const MAX_QUERY_LENGTH = 4000;
export const MAX_CUSTOM_METRICS = 10;

/**
 * What a credential looks like inside a query: PromQL selects series and never needs one, so such a
 * query is a paste mistake, and it would be stored in workflow history and shown in the UI.
 */
const SECRET_PATTERNS: { re: RegExp; what: string }[] = [
  { re: /\b(authorization|bearer)\b/i, what: 'an Authorization header' },
  { re: /\b[a-z][a-z0-9+.-]*:\/\/[^\s/@"]+:[^\s/@"]+@/i, what: 'a URL with user:password@' },
  { re: /\b(password|passwd|secret|token|api[_-]?key)\s*[:=]/i, what: 'a password, token or key' },
  { re: /\b(sk|xox[abp]|ghp|glpat)[-_][A-Za-z0-9_-]{12,}/, what: 'an API key' },
  { re: /\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./, what: 'a JSON Web Token' },
];

/** Placeholders a template uses, in order, as written (trimmed). */
export function placeholdersIn(template: string): string[] {
  return [...template.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)].map((m) => m[1]);
}

/** A PromQL template: bounded, only known placeholders, selects the version, carries no secret. */
export const TemplateSchema = z
  .string()
  .min(1, 'must be a PromQL query')
  .max(MAX_QUERY_LENGTH, `must be at most ${MAX_QUERY_LENGTH} characters`)
  .superRefine((q, ctx) => {
    const used = placeholdersIn(q);
    const unknown = used.filter((p) => !(PLACEHOLDERS as readonly string[]).includes(p));
    if (unknown.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown placeholder ${unknown.map((u) => `{{${u}}}`).join(', ')} (known: ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(' ')})`,
      });
    }
    if (!used.includes('version') && !used.includes('version_re')) {
      ctx.addIssue({
        code: 'custom',
        message:
          'must select the version with {{version}} or {{version_re}}, or both versions read the same series',
      });
    }
    if (/\{\{|\}\}/.test(q.replace(/\{\{\s*[^}]*?\s*\}\}/g, ''))) {
      ctx.addIssue({ code: 'custom', message: 'has an unbalanced {{ or }}' });
    }
    const secret = SECRET_PATTERNS.find((p) => p.re.test(q));
    if (secret) {
      ctx.addIssue({
        code: 'custom',
        message: `looks like it contains ${secret.what}; a query needs no credentials (the worker holds Prometheus's), and the plan is stored in workflow history`,
      });
    }
  });

/** lowerCamel, so never one of the built-in snake_case names. */
const CustomName = z
  .string()
  .max(64, 'must be at most 64 characters')
  .regex(/^[a-z][a-zA-Z0-9]*$/, 'must be lowerCamelCase (letters and digits, starting lowercase)');

const Direction = z.enum(['lower', 'higher'], { message: 'must be lower or higher (the better way)' });

/** The same rule kinds as the built-ins' thresholds, on the custom metric's own unit. */
export const CustomThresholdSchema = z
  .object({
    maxAbsolute: z.number().min(-1e12).max(1e12).optional(),
    minAbsolute: z.number().min(-1e12).max(1e12).optional(),
    maxRelativeIncrease: z.number().min(1, 'is a ratio canary/stable and must be >= 1').max(1000).optional(),
    maxRelativeDecrease: z.number().gt(0).lt(1, 'is a fraction below stable and must be < 1').optional(),
  })
  .strict();

const common = {
  name: CustomName,
  direction: Direction,
  /** Rules for the thresholds judge, and absolute guardrails for the statistical one. */
  thresholds: CustomThresholdSchema.optional(),
  /**
   * Smallest regression worth a rollback. proportion: absolute change of the share; mean: absolute
   * change of the mean, in the metric's unit; quantile: relative change (0.1 = 10%).
   */
  minEffect: z.number().gt(0, 'must be above 0').max(1e12).optional(),
  /** Shown beside values, e.g. "USD" or "tokens". */
  unit: z
    .string()
    .max(16)
    .regex(/^[A-Za-z0-9 $%/._-]*$/, 'may only contain letters, digits, spaces and $ % / . _ -')
    .optional(),
};

export const CustomMetricSchema = z.discriminatedUnion(
  'kind',
  [
    z
      .object({
        ...common,
        kind: z.literal('proportion'),
        query: z.object({ total: TemplateSchema, matching: TemplateSchema }).strict(),
      })
      .strict(),
    z
      .object({
        ...common,
        kind: z.literal('mean'),
        query: z
          .object({ sum: TemplateSchema, count: TemplateSchema, buckets: TemplateSchema.optional() })
          .strict(),
      })
      .strict(),
    z
      .object({
        ...common,
        kind: z.literal('quantile'),
        quantile: z.number().gt(0).lt(1, 'must be between 0 and 1, e.g. 0.99').default(0.99),
        query: z.object({ buckets: TemplateSchema }).strict(),
      })
      .strict(),
  ],
  { message: 'kind must be proportion, mean or quantile' },
);
export type CustomMetric = z.infer<typeof CustomMetricSchema>;

/** Minimum effects for the statistical judge when a custom metric gives none (mean has no scale). */
export const DEFAULT_CUSTOM_MIN_EFFECT = { proportion: 0.01, quantile: 0.1 } as const;

export const CustomMetricsSchema = z
  .array(CustomMetricSchema)
  .max(MAX_CUSTOM_METRICS, `at most ${MAX_CUSTOM_METRICS} custom metrics`)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((m, i) => {
      if (seen.has(m.name)) {
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${m.name}" is used twice` });
      }
      seen.add(m.name);
    });
  });

export interface CustomProblem {
  /** Dotted path below the plan, e.g. "analysis.custom.0.minEffect". */
  field: string;
  message: string;
}

/**
 * The checks that need the judge: what each judge requires of a custom metric, with the default
 * minimum effects filled in. Pure, so the plan resolver calls it.
 */
export function resolveCustomMetrics(
  custom: CustomMetric[],
  judge: 'thresholds' | 'statistical',
): { custom: CustomMetric[]; problems: CustomProblem[] } {
  const problems: CustomProblem[] = [];
  const out = custom.map((m, i) => {
    const at = (f: string) => `analysis.custom.${i}${f ? `.${f}` : ''}`;
    const t = m.thresholds ?? {};
    const rules = Object.values(t).filter((v) => v !== undefined).length;
    if (judge === 'thresholds' && rules === 0) {
      problems.push({
        field: at('thresholds'),
        message: 'the thresholds judge needs at least one rule (e.g. maxAbsolute) for a custom metric',
      });
    }
    if (m.kind === 'proportion') {
      for (const k of ['maxAbsolute', 'minAbsolute'] as const) {
        if (t[k] !== undefined && (t[k]! < 0 || t[k]! > 1)) {
          problems.push({ field: at(`thresholds.${k}`), message: 'is a proportion and must be in [0, 1]' });
        }
      }
      if (m.minEffect !== undefined && m.minEffect >= 1) {
        problems.push({ field: at('minEffect'), message: 'is a change of a proportion and must be < 1' });
      }
    }
    if (t.minAbsolute !== undefined && t.maxAbsolute !== undefined && t.minAbsolute > t.maxAbsolute) {
      problems.push({ field: at('thresholds'), message: 'minAbsolute is above maxAbsolute' });
    }
    if (judge === 'statistical' && m.kind === 'mean') {
      if (m.minEffect === undefined) {
        problems.push({
          field: at('minEffect'),
          message: `the statistical judge needs the smallest change of the mean worth a rollback, in the metric's unit${m.unit ? ` (${m.unit})` : ''}`,
        });
      }
      if (!m.query.buckets) {
        problems.push({
          field: at('query.buckets'),
          message:
            'the statistical judge needs the spread of the values: a `sum by (le)` histogram query of the same series',
        });
      }
    }
    if (judge === 'statistical' && m.kind === 'quantile' && m.minEffect !== undefined && m.minEffect >= 1) {
      problems.push({
        field: at('minEffect'),
        message: 'is a relative change of the quantile and must be < 1',
      });
    }
    const minEffect = m.minEffect ?? (m.kind === 'mean' ? undefined : DEFAULT_CUSTOM_MIN_EFFECT[m.kind]);
    return minEffect === undefined ? m : { ...m, minEffect };
  });
  return { custom: out, problems };
}

/** Every Prometheus template of a custom metric, as [field, template]. */
export function customTemplates(m: CustomMetric): [string, string][] {
  return Object.entries(m.query).filter((e): e is [string, string] => typeof e[1] === 'string');
}

const LatencyUnit = z.enum(['s', 'ms']).default('s');

/** A mean per answer: a sum and a count, and a `sum by (le)` histogram for the spread. */
const MeanTemplates = z
  .object({
    kind: z.literal('mean'),
    sum: TemplateSchema,
    count: TemplateSchema,
    buckets: TemplateSchema.optional(),
  })
  .strict();

/**
 * PromQL templates for the built-in metrics, by metric: in the worker's query file
 * (`--prometheus-queries`) and, per rollout, in the plan's `analysis.queries` (which takes
 * precedence metric by metric). Pure, so the workflow checks a plan's templates as the CLI does.
 */
export const BuiltinQueriesSchema = z
  .object({
    error_rate: z
      .object({ kind: z.literal('proportion'), total: TemplateSchema, bad: TemplateSchema })
      .strict(),
    p99_latency_ms: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('histogram'), buckets: TemplateSchema, unit: LatencyUnit }).strict(),
      z
        .object({
          kind: z.literal('quantile'),
          value: TemplateSchema,
          count: TemplateSchema,
          unit: LatencyUnit,
        })
        .strict(),
    ]),
    task_success_rate: z
      .object({ kind: z.literal('proportion'), total: TemplateSchema, good: TemplateSchema })
      .strict(),
    quality_score: MeanTemplates,
    // Read from the answers: agents that export OpenTelemetry's GenAI series (examples/prometheus-genai.yaml).
    cost_per_request: MeanTemplates,
    output_tokens: MeanTemplates,
    input_tokens: MeanTemplates,
    ttft_p99_ms: z
      .object({ kind: z.literal('histogram'), buckets: TemplateSchema, unit: LatencyUnit })
      .strict(),
    tool_error_rate: z
      .object({ kind: z.literal('proportion'), total: TemplateSchema, bad: TemplateSchema })
      .strict(),
    truncation_rate: z
      .object({ kind: z.literal('proportion'), total: TemplateSchema, bad: TemplateSchema })
      .strict(),
  })
  .partial()
  .strict()
  .refine((m) => Object.keys(m).length > 0, 'must configure at least one metric');
export type BuiltinQueries = z.infer<typeof BuiltinQueriesSchema>;

import { z } from 'zod';
import { ALL_METRICS, METRICS, MetricNameSchema, type MetricName } from '../analysis/types';
import { BuiltinQueriesSchema, CustomMetricsSchema } from '../metrics/prometheus-templates';
import { notifyEnvProblem } from '../notify/env-policy';
import { AgentName } from './agent-name';
import { formatDuration, parseDuration } from './duration';
import { MAX_OBSERVE_MS } from '../contract/names';
import { ON_FAIL_TIMEOUT } from './on-fail';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Bounds on every number that reaches a timer, an array or a lease. Plans come from anyone who can
 * start a rollout (and the workflow re-checks them), so each is a limit of the machinery, not taste.
 */
export const PLAN_LIMITS = {
  /** Stages after steps are expanded: each is a few history events, a timer and notifications. */
  maxStages: 100,
  minIntervalMs: 100,
  /** Checks renew the lease, which must be at least twice the interval and at most an hour. */
  maxIntervalMs: 30 * 60_000,
  maxObserveMs: MAX_OBSERVE_MS,
  maxProgressDeadlineMs: 30 * DAY,
  /** A canary share that nobody renews must lapse soon: the guarantee behind terminate. */
  maxLeaseTtlMs: HOUR,
  maxNotifyTargets: 20,
  maxUrlLength: 2048,
  /** The gateway keeps at most 24 h of per-second metrics: a horizon beyond it would never be read. */
  maxFeedbackHorizonMs: DAY,
} as const;

/**
 * Default `analysis.feedbackHorizon`: outcomes (task success, quality) of requests younger than this
 * may still be on their way, so absolute limits on outcomes read only requests at least this old.
 * 30 min covers feedback that takes up to half an hour (the benchmark's late-feedback traffic, good
 * outcomes 5-30 min late); a team whose evaluator scores within seconds can set it lower. A plan
 * whose shortest observed stage is shorter gets that stage's window instead (defaultFeedbackHorizon).
 */
export const DEFAULT_FEEDBACK_HORIZON_MS = 30 * 60_000;

/**
 * The horizon of a plan that does not set one: 30 min, or the shortest observed stage's window when
 * shorter (a plan of minutes-long stages expects its outcomes within minutes), and under half the
 * progress deadline; at least 1 s.
 */
export function defaultFeedbackHorizon(observeMs: readonly number[], progressDeadlineMs: number): number {
  const observed = observeMs.filter((ms) => ms > 0);
  const shortest = observed.length > 0 ? Math.min(...observed) : DEFAULT_FEEDBACK_HORIZON_MS;
  return Math.max(1_000, Math.min(DEFAULT_FEEDBACK_HORIZON_MS, shortest, Math.floor(progressDeadlineMs / 2)));
}

/** A duration as written ("30s", "5m", "1h30m" or ms), turned into positive milliseconds <= max. */
export function durationSchema(maxMs: number, minMs = 0) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    try {
      const ms = parseDuration(value);
      if (ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `must be a positive duration, got "${value}"` });
        return z.NEVER;
      }
      if (ms < minMs) {
        ctx.addIssue({ code: 'custom', message: `must be at least ${formatDuration(minMs)}` });
        return z.NEVER;
      }
      if (ms > maxMs) {
        ctx.addIssue({ code: 'custom', message: `must be at most ${formatDuration(maxMs)}` });
        return z.NEVER;
      }
      return ms;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
}

/** Any duration up to a year (the longest parseDuration accepts). */
export const DurationSchema = durationSchema(365 * DAY);

const VersionName = z
  .string()
  .min(1, 'must not be empty')
  .max(128)
  .regex(/^[A-Za-z0-9._:+-]+$/, 'may only contain letters, digits and . _ : + -');

// Its own module, so that the CLI checks a name without building every plan schema.
export { AgentName } from './agent-name';

export const ThresholdSchema = z
  .object({
    /** Canary value must be at most this. */
    maxAbsolute: z.number().nonnegative().max(1e9).optional(),
    /** Canary value must be at least this. */
    minAbsolute: z.number().nonnegative().max(1e9).optional(),
    /** Canary may be at most this many times the stable value (2.0 = twice stable). */
    maxRelativeIncrease: z.number().min(1, 'is a ratio canary/stable and must be >= 1').max(1000).optional(),
    /** Canary may be at most this fraction below stable (0.1 = 10% lower). */
    maxRelativeDecrease: z.number().gt(0).lt(1, 'is a fraction below stable and must be < 1').optional(),
  })
  .strict();
export type Threshold = z.infer<typeof ThresholdSchema>;

export const DEFAULT_THRESHOLDS: Record<MetricName, Threshold> = {
  error_rate: { maxAbsolute: 0.05, maxRelativeIncrease: 2.0 },
  p99_latency_ms: { maxRelativeIncrease: 1.5 },
  task_success_rate: { minAbsolute: 0.9, maxRelativeDecrease: 0.1 },
  quality_score: { maxRelativeDecrease: 0.05 },
  // Read from the answers: judged only when a plan names them.
  cost_per_request: { maxRelativeIncrease: 1.2 },
  output_tokens: { maxRelativeIncrease: 1.2 },
  input_tokens: { maxRelativeIncrease: 1.2 },
  ttft_p99_ms: { maxRelativeIncrease: 1.5 },
  tool_error_rate: { maxAbsolute: 0.1, maxRelativeIncrease: 2.0 },
  truncation_rate: { maxAbsolute: 0.1, maxRelativeIncrease: 2.0 },
  // Shadow pairs: judged by its own sequential test (src/analysis/preference.ts), no threshold rule.
  preference: {},
};

/**
 * Smallest regression worth failing a canary for, per metric, used by the statistical judge.
 * error_rate: absolute increase in error proportion; task_success_rate: absolute drop in success
 * proportion; p99_latency_ms: relative increase (0.1 = 10% slower); quality_score: absolute drop.
 */
export const DEFAULT_MIN_EFFECT: Record<MetricName, number> = {
  error_rate: 0.01,
  p99_latency_ms: 0.2,
  task_success_rate: 0.02,
  quality_score: 0.02,
  // Means and the quantile: relative to stable (0.2 = 20% more); the two rates: absolute increase.
  cost_per_request: 0.2,
  output_tokens: 0.2,
  input_tokens: 0.2,
  ttft_p99_ms: 0.2,
  tool_error_rate: 0.02,
  truncation_rate: 0.02,
  // The canary's win share among decided pairs may be at most this far below one half.
  preference: 0.1,
};

/**
 * Failed checks in a stage before rollback, per judge, when the plan does not say. Thresholds: each
 * check is a fresh point comparison, so one noisy check must not roll back. Statistical: a fail is
 * already the end of a sequential test whose false-alarm rate allows for every look, so waiting for
 * more failed checks only serves the bad version longer.
 */
export const DEFAULT_FAILURE_LIMIT = { thresholds: 3, statistical: 1 } as const;

const StageInput = z
  .object({
    // Optional only for a shadow stage; the refinement below says which of the two is missing.
    weight: z.number().gt(0, 'must be above 0').max(100, 'must be at most 100').optional(),
    /**
     * A shadow stage (docs/shadow.md): every user is served by the stable, and this percent of
     * requests (whole conversations) is mirrored to the canary and judged side by side.
     */
    shadow: z.number().gt(0, 'must be above 0').max(100, 'must be at most 100').optional(),
    observe: durationSchema(PLAN_LIMITS.maxObserveMs).optional(),
    /** A gate: the stage does not advance, however healthy, until a person runs `approve`. */
    approval: z.boolean().optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.weight === undefined && s.shadow === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['weight'],
        message: 'give weight (or shadow for a shadow stage)',
      });
    } else if (s.weight !== undefined && s.shadow !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['shadow'],
        message: 'a stage is either weighted or shadow: give weight or shadow, not both',
      });
    }
  });

const StepsInput = z
  .object({
    stepWeight: z.number().gt(0, 'must be above 0').max(100),
    maxWeight: z.number().gt(0).max(100, 'must be at most 100'),
    interval: durationSchema(PLAN_LIMITS.maxObserveMs),
  })
  .strict();

/**
 * Secrets can stay out of the plan (and so out of workflow history): name a variable on the worker.
 * Which variables a plan may name is decided in one place, src/notify/env-policy.ts.
 */
const EnvVarName = z.string().superRefine((name, ctx) => {
  const problem = notifyEnvProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Where a plan may send notifications: http(s) only, without credentials in the URL. */
const NotifyUrl = z
  .string()
  .max(PLAN_LIMITS.maxUrlLength, `must be at most ${PLAN_LIMITS.maxUrlLength} characters`)
  .superRefine((raw, ctx) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
    } else if (url.username || url.password) {
      ctx.addIssue({
        code: 'custom',
        message: 'must not carry user:password@ (it would be stored in history); sign with secret instead',
      });
    }
  });
const exactlyOne = (a: string, b: string) => (t: Record<string, unknown>) =>
  (t[a] === undefined) !== (t[b] === undefined);

const NotifyInput = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('slack'),
      webhookUrl: NotifyUrl.optional(),
      webhookUrlEnv: EnvVarName.optional(),
      /** Approve, promote, dismiss and abort buttons (the dashboard's POST /slack/actions acts on them). */
      buttons: z.boolean().optional(),
    })
    .strict()
    .refine(exactlyOne('webhookUrl', 'webhookUrlEnv'), {
      message: 'give webhookUrl, or webhookUrlEnv naming a variable on the worker (keeps it out of history)',
      path: ['webhookUrl'],
    }),
  z
    .object({
      type: z.literal('webhook'),
      url: NotifyUrl,
      secret: z
        .string()
        .min(16, 'must be at least 16 characters (it signs the payload)')
        .max(1024)
        .optional(),
      secretEnv: EnvVarName.optional(),
    })
    .strict()
    .refine(exactlyOne('secret', 'secretEnv'), {
      message: 'give secret, or secretEnv naming a variable on the worker (keeps it out of history)',
      path: ['secret'],
    }),
  z.object({ type: z.literal('log') }).strict(),
]);
export type NotifyTarget = z.infer<typeof NotifyInput>;

/**
 * `analysis.onFail`: metric name (or `default`) -> what reaching the failure limit on it does.
 * `pause` keeps the canary share and keeps judging; a second clear failure still rolls back.
 * Names are checked against the judged metrics by resolvePlan; absent = every metric rolls back.
 */
export const ON_FAIL_ACTIONS = ['rollback', 'pause'] as const;
const OnFailAction = z.enum(ON_FAIL_ACTIONS, { message: 'must be rollback or pause' });
/**
 * `timeout`: how long a pause on a failed check waits for a person (dismiss, promote, abort) before
 * it rolls back; absent = until the progress deadline. Not a metric name: every other key is one.
 */
export { ON_FAIL_TIMEOUT };
type OnFailAction = (typeof ON_FAIL_ACTIONS)[number];
/** As written: metric (or `default`) -> action, and `timeout` as a duration. */
export interface OnFailInput {
  timeout?: string | number;
  [metric: string]: OnFailAction | string | number | undefined;
}
/** As resolved: `timeout` in ms. */
export interface OnFailResolved {
  timeout?: number;
  [metric: string]: OnFailAction | number | undefined;
}
// zod infers an index signature that `timeout` breaks; the two interfaces above say what it is.
export const OnFailSchema: z.ZodType<OnFailResolved, OnFailInput> = z
  .object({ timeout: durationSchema(PLAN_LIMITS.maxProgressDeadlineMs, 1_000).optional() })
  .catchall(OnFailAction)
  .superRefine((m, ctx) => {
    const keys = Object.keys(m);
    if (keys.length > 50) ctx.addIssue({ code: 'custom', message: 'at most 50 entries' });
    for (const k of keys) {
      if (k.length > 64 || !/^[A-Za-z][A-Za-z0-9_]*$/.test(k)) {
        ctx.addIssue({ code: 'custom', path: [k], message: 'must be a metric name, "default" or "timeout"' });
      }
    }
  });
export type OnFail = z.infer<typeof OnFailSchema>;

/**
 * Webhooks at Flagger's points. pre-rollout: before any user traffic; confirm-traffic-increase:
 * before each later stage's split; confirm-promotion: before the promotion; post-rollout: once the
 * rollout ended (any outcome); rollback: once a rollback or abort put all traffic on stable. A
 * non-2xx answer of a pre-rollout or confirm hook is a failed check (the answer is the reason).
 */
export const HOOK_TYPES = [
  'pre-rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
  'post-rollout',
  'rollback',
] as const;
export type HookType = (typeof HOOK_TYPES)[number];
export const HookSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'may only contain letters, digits and . _ -'),
    type: z.enum(HOOK_TYPES, { message: `must be one of ${HOOK_TYPES.join(', ')}` }),
    url: NotifyUrl,
    /** Each attempt is cut off after this long (ms once resolved). */
    timeout: durationSchema(60_000, 100).default(10_000),
    /** Attempts after the first on a network error, a timeout, 5xx, 408 or 429. */
    retries: z.number().int().min(0).max(10).default(2),
    secret: z.string().min(16, 'must be at least 16 characters (it signs the call)').max(1024).optional(),
    secretEnv: EnvVarName.optional(),
    /** Sent as is in the body, as Flagger's webhook metadata. */
    metadata: z
      .record(z.string().max(64), z.string().max(1000))
      .refine((m) => Object.keys(m).length <= 20, { message: 'at most 20 entries' })
      .optional(),
  })
  .strict()
  .refine(exactlyOne('secret', 'secretEnv'), {
    message: 'give secret, or secretEnv naming a variable on the worker (keeps it out of history)',
    path: ['secret'],
  });
export type Hook = z.infer<typeof HookSchema>;
export const HooksSchema = z
  .array(HookSchema)
  .max(20, 'at most 20 hooks')
  .refine((hs) => new Set(hs.map((h) => h.name)).size === hs.length, { message: 'hook names must differ' });

/**
 * Test routes: requests that match (a header or a cookie with this exact value) go to the canary
 * whenever it has a share, whatever the weight, and are counted apart from user traffic. `judged`
 * lets them feed the judge too.
 */
const RouteValue = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');
const RouteName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be a header or cookie name');
export const TestRouteSchema = z.union([
  z.object({ header: RouteName.transform((h) => h.toLowerCase()), value: RouteValue }).strict(),
  z.object({ cookie: RouteName, value: RouteValue }).strict(),
]);
export const TestRoutesSchema = z
  .object({
    match: z.array(TestRouteSchema).min(1).max(10),
    judged: z.boolean().default(false),
  })
  .strict();
export type TestRoutes = z.infer<typeof TestRoutesSchema>;

const AnalysisInput = z
  .object({
    interval: durationSchema(PLAN_LIMITS.maxIntervalMs, PLAN_LIMITS.minIntervalMs).default(60_000),
    /** Default: DEFAULT_FAILURE_LIMIT for the judge, filled in by resolvePlan. */
    failureLimit: z.number().int().min(1).max(100).optional(),
    minSamples: z.number().int().min(1).max(10_000_000).default(100),
    /** Inconclusive checks in a row before the rollout pauses and asks a person. */
    inconclusiveLimit: z.number().int().min(1).max(10_000).default(30),
    /** Which metrics are judged; a team without feedback can judge only error_rate and latency. */
    metrics: z
      .array(MetricNameSchema)
      .min(1)
      .default([...METRICS]),
    thresholds: z.partialRecord(MetricNameSchema, ThresholdSchema).default({}),
    judge: z.enum(['thresholds', 'statistical']).default('statistical'),
    /** False rollback rate the statistical judge allows per rollout. */
    alpha: z.number().gt(0).max(0.2, 'above 0.2 would roll back healthy canaries too often').default(0.01),
    minEffect: z.partialRecord(MetricNameSchema, z.number().gt(0).max(1e6)).default({}),
    /** What a failed check of each metric does: roll back (the default), or pause for a person. */
    onFail: OnFailSchema.optional(),
    /** The team's own metrics (cost or tokens per task...), read by Prometheus query and judged. */
    custom: CustomMetricsSchema.optional(),
    /** PromQL templates for the built-in metrics, for --metrics prometheus-query (over the worker's). */
    queries: BuiltinQueriesSchema.optional(),
    /**
     * How late outcomes may arrive: absolute limits on task success and quality read only requests
     * at least this old (docs/judge.md, "Outcomes and the feedback horizon").
     */
    feedbackHorizon: durationSchema(PLAN_LIMITS.maxFeedbackHorizonMs, 1_000).optional(),
  })
  .strict();

export const PlanInputSchema = z
  .object({
    agent: AgentName,
    stable: VersionName,
    canary: VersionName,
    stages: z
      .array(StageInput)
      .min(1)
      .max(PLAN_LIMITS.maxStages, `at most ${PLAN_LIMITS.maxStages} stages`)
      .optional(),
    steps: StepsInput.optional(),
    analysis: AnalysisInput.default(AnalysisInput.parse({})),
    progressDeadline: durationSchema(PLAN_LIMITS.maxProgressDeadlineMs).default(6 * 3_600_000),
    /** How long the canary share survives without the workflow renewing it. */
    leaseTtl: durationSchema(PLAN_LIMITS.maxLeaseTtlMs).optional(),
    notify: z
      .array(NotifyInput)
      .max(PLAN_LIMITS.maxNotifyTargets, `at most ${PLAN_LIMITS.maxNotifyTargets} targets`)
      .default([]),
    hooks: HooksSchema.optional(),
    testRoutes: TestRoutesSchema.optional(),
  })
  .strict();
export type PlanInput = z.input<typeof PlanInputSchema>;

export const StageSchema = z.object({
  /** 0 only for a shadow stage: no user is served by the canary. */
  weight: z.number().min(0).max(100),
  observeMs: z.number().min(0).max(PLAN_LIMITS.maxObserveMs),
  approval: z.boolean().optional(),
  /** Percent of requests mirrored to the canary (a shadow stage); absent on weighted stages. */
  shadow: z.number().gt(0).max(100).optional(),
});
export type Stage = z.infer<typeof StageSchema>;

/**
 * The plan as the workflow gets it: defaults filled in, steps expanded, durations in ms. JSON-safe.
 * Any Temporal client can start a workflow with such an object, so it carries the same bounds as a
 * plan written by hand, and the invariants resolvePlan establishes are checked again.
 */
export const ResolvedPlanSchema = z
  .object({
    agent: AgentName,
    stable: VersionName,
    canary: VersionName,
    stages: z.array(StageSchema).min(1).max(PLAN_LIMITS.maxStages),
    analysis: z.object({
      intervalMs: z.number().min(PLAN_LIMITS.minIntervalMs).max(PLAN_LIMITS.maxIntervalMs),
      failureLimit: z.number().int().min(1).max(100),
      minSamples: z.number().int().min(1).max(10_000_000),
      inconclusiveLimit: z.number().int().min(1).max(10_000),
      metrics: z.array(MetricNameSchema).min(1).max(ALL_METRICS.length),
      // Partial: rollouts started before the metrics read from the answers carry only four.
      thresholds: z.partialRecord(MetricNameSchema, ThresholdSchema),
      judge: z.enum(['thresholds', 'statistical']),
      alpha: z.number().gt(0).max(0.2),
      minEffect: z
        .partialRecord(MetricNameSchema, z.number().gt(0).max(1e6))
        .transform((m) => ({ ...DEFAULT_MIN_EFFECT, ...m })),
      /** Stages with an observation window: the statistical judge splits alpha across them. */
      observedStages: z.number().int().positive().max(PLAN_LIMITS.maxStages).optional(),
      /** Absent in rollouts started before onFail existed: every metric rolls back. */
      onFail: OnFailSchema.optional(),
      /** Custom metrics (helper k8s); absent in plans without them and in older histories. */
      custom: CustomMetricsSchema.optional(),
      queries: BuiltinQueriesSchema.optional(),
      /** analysis.feedbackHorizon; absent in rollouts started before it: outcome limits read every request. */
      feedbackHorizonMs: z.number().positive().max(PLAN_LIMITS.maxFeedbackHorizonMs).optional(),
    }),
    progressDeadlineMs: z.number().positive().max(PLAN_LIMITS.maxProgressDeadlineMs),
    leaseTtlMs: z.number().positive().max(PLAN_LIMITS.maxLeaseTtlMs),
    notify: z.array(NotifyInput).max(PLAN_LIMITS.maxNotifyTargets),
    /** Absent in plans without them and in rollouts started before gates existed. */
    hooks: HooksSchema.optional(),
    testRoutes: TestRoutesSchema.optional(),
  })
  .superRefine((p, ctx) => {
    // zod runs this even after a non-fatal issue above: check only what is there.
    if (!Array.isArray(p.stages) || p.stages.length === 0 || !p.analysis) return;
    if (p.canary === p.stable) {
      ctx.addIssue({ code: 'custom', path: ['canary'], message: 'must differ from stable' });
    }
    p.stages.forEach((s, i) => {
      shadowStageProblems(s, i).forEach((m) =>
        ctx.addIssue({ code: 'custom', path: ['stages', i], message: m }),
      );
      if (i > 0 && s.weight <= p.stages[i - 1].weight) {
        ctx.addIssue({
          code: 'custom',
          path: ['stages', i, 'weight'],
          message: 'weights must rise strictly',
        });
      }
    });
    const last = p.stages.length - 1;
    if (p.stages[last].weight !== 100) {
      ctx.addIssue({
        code: 'custom',
        path: ['stages', last, 'weight'],
        message: 'the last stage must be 100 (the promotion)',
      });
    }
    if (p.leaseTtlMs < 2 * p.analysis.intervalMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['leaseTtlMs'],
        message: 'must be at least twice analysis.intervalMs',
      });
    }
  });
export type ResolvedPlan = z.infer<typeof ResolvedPlanSchema>;

/**
 * A resolved stage's shadow invariants: weight 0 exactly when it mirrors, only as the first stage
 * (before any user meets the canary) and with a window to judge in.
 */
export function shadowStageProblems(s: Stage, index: number): string[] {
  if (s.shadow === undefined)
    return s.weight > 0 ? [] : ['weight must be above 0 (or the stage a shadow stage)'];
  const out: string[] = [];
  if (s.weight !== 0) out.push('a shadow stage serves no user from the canary: its weight must be 0');
  if (index !== 0) out.push('a shadow stage must be the first stage (before any user meets the canary)');
  if (s.observeMs <= 0) out.push('a shadow stage needs an observe window');
  return out;
}

/** The plan's shadow stage, if it has one (always the first). */
export function shadowStage(plan: Pick<ResolvedPlan, 'stages'>): Stage | undefined {
  return plan.stages[0]?.shadow !== undefined ? plan.stages[0] : undefined;
}
export type AnalysisConfig = ResolvedPlan['analysis'];

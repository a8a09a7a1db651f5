// Resolving and checking plans, without the YAML parser: the workflow bundle imports this module,
// and every cached workflow holds its own copy of what the bundle evaluates.
import { ALL_METRICS } from '../analysis/types';

const PROPORTIONS = new Set<string>([
  'error_rate',
  'task_success_rate',
  'tool_error_rate',
  'truncation_rate',
]);
import { resolveCustomMetrics } from '../metrics/prometheus-templates';
import {
  DEFAULT_FAILURE_LIMIT,
  DEFAULT_MIN_EFFECT,
  DEFAULT_THRESHOLDS,
  defaultFeedbackHorizon,
  PLAN_LIMITS,
  PlanInputSchema,
  ResolvedPlanSchema,
  type PlanInput,
  type ResolvedPlan,
  type Stage,
} from './schema';
import { onFailProblems } from './on-fail';
import { problemsFromZod } from '../text/zod-problems';

export * from './schema';
export { parseDuration, formatDuration } from './duration';

export const DEFAULT_STAGES: Stage[] = [
  { weight: 5, observeMs: 30 * 60_000 },
  { weight: 25, observeMs: 60 * 60_000 },
  { weight: 50, observeMs: 120 * 60_000 },
  { weight: 100, observeMs: 0 },
];

export interface PlanProblem {
  /** Dotted path of the offending field, e.g. "stages.1.weight". */
  field: string;
  message: string;
}

/** A plan that cannot be used; carries every problem found, each naming its field. */
export class PlanError extends Error {
  override name = 'PlanError';
  constructor(readonly problems: PlanProblem[]) {
    super(`invalid plan:\n${problems.map((p) => `  - ${p.field || '(plan)'}: ${p.message}`).join('\n')}`);
  }
}

export { problemsFromZod };

function expandSteps(steps: { stepWeight: number; maxWeight: number; interval: number }): Stage[] {
  const stages: Stage[] = [];
  for (let w = steps.stepWeight; w <= steps.maxWeight + 1e-9; w += steps.stepWeight) {
    stages.push({ weight: Math.round(w * 1000) / 1000, observeMs: steps.interval });
  }
  if (stages.length === 0 || stages[stages.length - 1].weight < 100) {
    stages.push({ weight: 100, observeMs: 0 });
  }
  return stages;
}

/** Validates a plan as written and fills in every default. Throws PlanError naming each bad field. */
export function resolvePlan(input: unknown): ResolvedPlan {
  const parsed = PlanInputSchema.safeParse(input);
  if (!parsed.success) throw new PlanError(problemsFromZod(parsed.error));
  const plan = parsed.data;
  const problems: PlanProblem[] = [];

  if (plan.canary === plan.stable) {
    problems.push({ field: 'canary', message: `must differ from stable (both are "${plan.stable}")` });
  }
  if (plan.stages && plan.steps) {
    problems.push({ field: 'steps', message: 'give either stages or steps, not both' });
  }
  if (plan.steps && plan.steps.stepWeight > plan.steps.maxWeight) {
    problems.push({ field: 'steps.stepWeight', message: 'must not exceed steps.maxWeight' });
  }
  // Checked before expanding: a tiny stepWeight would otherwise build an array of millions.
  const stepCount = plan.steps ? Math.floor(plan.steps.maxWeight / plan.steps.stepWeight + 1e-9) + 1 : 0;
  if (plan.steps && stepCount > PLAN_LIMITS.maxStages) {
    problems.push({
      field: 'steps.stepWeight',
      message: `makes ${stepCount > 1e6 ? 'millions of' : stepCount} stages; at most ${PLAN_LIMITS.maxStages} (raise stepWeight)`,
    });
    throw new PlanError(problems);
  }

  let stages: Stage[];
  if (plan.steps) {
    stages = expandSteps(plan.steps);
  } else if (plan.stages) {
    stages = plan.stages.map((s, i) => {
      const last = i === plan.stages!.length - 1;
      if (!last && s.observe === undefined && s.shadow === undefined) {
        problems.push({ field: `stages.${i}.observe`, message: 'is required for every stage but the last' });
      }
      if (s.shadow !== undefined) {
        if (i !== 0) {
          problems.push({
            field: `stages.${i}.shadow`,
            message: 'a shadow stage must be the first stage (before any user meets the canary)',
          });
        }
        if (s.observe === undefined) {
          problems.push({ field: `stages.${i}.observe`, message: 'is required for a shadow stage' });
        }
        if (last) {
          problems.push({
            field: `stages.${i}.shadow`,
            message: 'a shadow stage cannot be the last: the last stage must be 100 (the promotion)',
          });
        }
        return {
          weight: 0,
          shadow: s.shadow,
          observeMs: s.observe ?? 0,
          ...(s.approval ? { approval: true } : {}),
        };
      }
      return { weight: s.weight ?? 0, observeMs: s.observe ?? 0, ...(s.approval ? { approval: true } : {}) };
    });
    stages.forEach((s, i) => {
      if (i > 0 && s.shadow === undefined && s.weight <= stages[i - 1].weight) {
        problems.push({
          field: `stages.${i}.weight`,
          message: `weights must rise strictly: ${s.weight} follows ${stages[i - 1].weight}`,
        });
      }
    });
    if (stages[stages.length - 1].weight !== 100) {
      problems.push({
        field: `stages.${stages.length - 1}.weight`,
        message: `the last stage must be 100 (the promotion), got ${stages[stages.length - 1].weight}`,
      });
    }
  } else {
    stages = DEFAULT_STAGES.map((s) => ({ ...s }));
  }

  const a = plan.analysis;
  const thresholds = { ...DEFAULT_THRESHOLDS, ...a.thresholds };
  for (const metric of ALL_METRICS) {
    const t = thresholds[metric];
    if (
      t &&
      Object.keys(t).length === 0 &&
      a.metrics.includes(metric) &&
      a.judge === 'thresholds' &&
      metric !== 'preference'
    ) {
      problems.push({
        field: `analysis.thresholds.${metric}`,
        message: 'has no rule; give at least one or drop the metric from analysis.metrics',
      });
    }
    if (PROPORTIONS.has(metric) && t) {
      for (const k of ['maxAbsolute', 'minAbsolute'] as const) {
        if (t[k] !== undefined && t[k]! > 1) {
          problems.push({
            field: `analysis.thresholds.${metric}.${k}`,
            message: 'is a proportion and must be <= 1',
          });
        }
      }
    }
    if (t?.minAbsolute !== undefined && t.maxAbsolute !== undefined && t.minAbsolute > t.maxAbsolute) {
      problems.push({ field: `analysis.thresholds.${metric}`, message: 'minAbsolute is above maxAbsolute' });
    }
  }
  problems.push(...onFailProblems(a.onFail, a.metrics, plan.analysis));
  if (a.interval > plan.progressDeadline) {
    problems.push({ field: 'analysis.interval', message: 'is longer than progressDeadline' });
  }
  if (a.feedbackHorizon !== undefined && a.feedbackHorizon >= plan.progressDeadline) {
    problems.push({
      field: 'analysis.feedbackHorizon',
      message: 'is not shorter than progressDeadline: no request would be old enough to judge its outcomes',
    });
  }
  const observeTotal = stages.reduce((sum, s) => sum + s.observeMs, 0);
  if (observeTotal > plan.progressDeadline) {
    problems.push({
      field: 'progressDeadline',
      message: `is shorter than the stages' observation time (${Math.round(observeTotal / 60_000)}m)`,
    });
  }
  // The lease must outlive a few missed checks, or a slow metrics query would drop the canary.
  const leaseTtlMs =
    plan.leaseTtl ?? Math.min(PLAN_LIMITS.maxLeaseTtlMs, Math.max(5 * a.interval, 5 * 60_000));
  if (leaseTtlMs < 2 * a.interval) {
    problems.push({
      field: 'leaseTtl',
      message: 'must be at least twice analysis.interval (it is renewed at every check)',
    });
  }
  const custom = a.custom ? resolveCustomMetrics(a.custom, a.judge) : undefined;
  if (custom) problems.push(...custom.problems);
  problems.push(...gateProblems(stages));
  if (a.metrics.includes('preference') && stages[0]?.shadow === undefined) {
    problems.push({
      field: 'analysis.metrics',
      message:
        'preference is judged on shadow pairs: add a shadow stage first (stages: [{ shadow: 20, observe: 30m }, ...])',
    });
  }
  if (problems.length > 0) throw new PlanError(problems);

  const resolved = ResolvedPlanSchema.safeParse({
    agent: plan.agent,
    stable: plan.stable,
    canary: plan.canary,
    stages,
    analysis: {
      intervalMs: a.interval,
      failureLimit: a.failureLimit ?? DEFAULT_FAILURE_LIMIT[a.judge],
      minSamples: a.minSamples,
      inconclusiveLimit: a.inconclusiveLimit,
      metrics: a.metrics,
      thresholds,
      judge: a.judge,
      alpha: a.alpha,
      minEffect: { ...DEFAULT_MIN_EFFECT, ...a.minEffect },
      observedStages: Math.max(1, stages.filter((st) => st.observeMs > 0).length),
      ...(a.onFail ? { onFail: a.onFail } : {}),
      ...(custom && custom.custom.length > 0 ? { custom: custom.custom } : {}),
      ...(a.queries ? { queries: a.queries } : {}),
      feedbackHorizonMs:
        a.feedbackHorizon ??
        defaultFeedbackHorizon(
          stages.map((st) => st.observeMs),
          plan.progressDeadline,
        ),
    },
    progressDeadlineMs: plan.progressDeadline,
    leaseTtlMs,
    notify: plan.notify,
    ...(plan.hooks && plan.hooks.length > 0 ? { hooks: plan.hooks } : {}),
    ...(plan.testRoutes ? { testRoutes: plan.testRoutes } : {}),
  });
  if (!resolved.success) throw new PlanError(problemsFromZod(resolved.error));
  return resolved.data;
}

export type { PlanInput };

/** Approval gates sit on a stage that is left: the last one (the promotion) is never left. */
function gateProblems(stages: Stage[]): PlanProblem[] {
  const last = stages.length - 1;
  return stages[last]?.approval
    ? [
        {
          field: `stages.${last}.approval`,
          message: 'the last stage is the promotion; put approval on the stage before it',
        },
      ]
    : [];
}

/**
 * The workflow's own gate on its input: any Temporal client can start a rollout, with a plan as a
 * team writes it (resolved here by the same pure resolver the CLI uses) or one already resolved.
 * Pure and deterministic, so the workflow can call it. Throws PlanError naming each bad field.
 */
export function planForWorkflow(input: unknown): ResolvedPlan {
  const looksResolved =
    typeof input === 'object' &&
    input !== null &&
    typeof (input as { analysis?: { intervalMs?: unknown } }).analysis?.intervalMs === 'number';
  if (!looksResolved) return resolvePlan(input);
  const parsed = ResolvedPlanSchema.safeParse(input);
  if (!parsed.success) throw new PlanError(problemsFromZod(parsed.error));
  return parsed.data;
}

// Inputs written by clients other than agent-canary's, checked at the edge: the workflow sandbox holds
// no zod and no plan parser (issue 22). A plan as written (the Python SDK, `temporal workflow start`
// with the YAML's JSON) is resolved and checked by the rollout's first activity; the preflight
// workflow's input is checked by its activity.
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { PLAN_FAILURE } from '../src/contract';
import { PlanError, planForWorkflow, type ResolvedPlan } from '../src/plan/resolve';
import { problemsFromZod } from '../src/text/zod-problems';

export const PreflightInputSchema = z
  .object({
    agent: z.string().min(1).max(100),
    stable: z.string().min(1).max(128),
    canary: z.string().min(1).max(128),
    metrics: z.array(z.string().max(64)).max(20).optional(),
    /** The plan has a shadow stage: the router must mirror for this agent (docs/shadow.md). */
    shadow: z.literal(true).optional(),
  })
  .strict();

/** The problems of a preflight input, each naming its field; empty when it is good. */
export function preflightInputProblems(input: unknown): string[] {
  const parsed = PreflightInputSchema.safeParse(input);
  return parsed.success ? [] : problemsFromZod(parsed.error).map((p) => `${p.field}: ${p.message}`);
}

export function planActivities() {
  return {
    /**
     * A plan as another client wrote it, resolved (defaults, steps, durations in ms) and checked. A bad
     * plan fails for good with every problem named: the workflow fails with it at once.
     */
    async resolvePlan(input: unknown): Promise<ResolvedPlan> {
      try {
        return planForWorkflow(input);
      } catch (err) {
        if (err instanceof PlanError) throw ApplicationFailure.nonRetryable(err.message, PLAN_FAILURE);
        throw err;
      }
    },
  };
}

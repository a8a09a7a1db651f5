// Plans: resolving and checking (./resolve, also used by workflow code) and reading plan text.
import { PlanError, resolvePlan, type PlanProblem } from './resolve';
import { PlanInputSchema, type ResolvedPlan } from './schema';
import { unitlessDurations } from './duration';
import { withSuggestions } from './suggest';
import { parseYaml } from './yaml';

export * from './resolve';
export { parseYaml } from './yaml';

/** Parses plan text (YAML, which includes JSON) and resolves it. */
export function parsePlan(text: string, source = 'plan'): ResolvedPlan {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new PlanError([
      { field: '', message: `${source} is not valid YAML or JSON: ${(err as Error).message}` },
    ]);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new PlanError([
      { field: '', message: `${source} must be a mapping with agent, stable and canary` },
    ]);
  }
  // Problems only a file can have: durations without a unit, keys that are typos of ours.
  const unitless = unitlessDurations(doc);
  try {
    const plan = resolvePlan(doc);
    if (unitless.length === 0) return plan;
    throw new PlanError([]);
  } catch (err) {
    if (!(err instanceof PlanError)) throw err;
    // A value misread as milliseconds makes more problems (a deadline under the interval...):
    // with unitless durations, only those and the misspelt keys are worth reading.
    const others = err.problems
      .filter((p) => !unitless.some((u) => u.field === p.field))
      .filter((p) => unitless.length === 0 || p.message.startsWith('Unrecognized key'))
      .map((p): PlanProblem => ({ ...p, message: withSuggestions(PlanInputSchema, p.field, p.message) }));
    throw new PlanError([...unitless, ...others]);
  }
}

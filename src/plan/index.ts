// Plans: resolving and checking (./resolve, also used by workflow code) and reading plan text.
import { PlanError, resolvePlan } from './resolve';
import type { ResolvedPlan } from './schema';
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
  return resolvePlan(doc);
}

// "did you mean": a plan key that is not one of ours, answered with the nearest key the schema
// knows at that place. Used when plan files are read (not in the workflow bundle).
import { closest, distance } from 'fastest-levenshtein';
import type { z } from 'zod';

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
}
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The object schemas reachable at a dotted path ("stages.0", "" for the top), wrappers unwrapped. */
function objectsAt(schema: z.ZodType, path: string[], depth = 0): Record<string, z.ZodType>[] {
  if (depth > 20) return [];
  const d = defOf(schema);
  const inner = d.innerType ?? d.in;
  if (inner) return objectsAt(inner, path, depth + 1);
  if (d.type === 'union') return (d.options ?? []).flatMap((o) => objectsAt(o, path, depth + 1));
  if (path.length === 0) return d.type === 'object' && d.shape ? [d.shape] : [];
  const [head, ...rest] = path;
  if (d.type === 'array' && d.element && /^\d+$/.test(head)) return objectsAt(d.element, rest, depth + 1);
  if (d.type === 'record' && d.valueType) return objectsAt(d.valueType, rest, depth + 1);
  if (d.type === 'object' && d.shape?.[head]) return objectsAt(d.shape[head], rest, depth + 1);
  return [];
}

/** The key the writer most likely meant, when one is close enough to be a typo. */
export function nearestKey(schema: z.ZodType, field: string, key: string): string | null {
  const known = objectsAt(schema, field ? field.split('.') : []).flatMap((shape) => Object.keys(shape));
  if (known.length === 0 || key.length > 200) return null;
  const best = closest(key, known);
  const limit = Math.max(1, Math.min(3, Math.floor(best.length / 3)));
  return distance(key.toLowerCase(), best.toLowerCase()) <= limit ? best : null;
}

/** zod's "Unrecognized key(s): ..." message with a "did you mean" for each key that has a near miss. */
export function withSuggestions(schema: z.ZodType, field: string, message: string): string {
  const m = /^Unrecognized keys?: (.*)$/.exec(message);
  if (!m) return message;
  const keys = [...m[1].matchAll(/"([^"]*)"/g)].map((k) => k[1]);
  const hints = keys
    .map((k) => [k, nearestKey(schema, field, k)] as const)
    .filter((h): h is readonly [string, string] => h[1] !== null)
    .map(([k, near]) => (keys.length === 1 ? `did you mean "${near}"?` : `"${k}": did you mean "${near}"?`));
  return hints.length ? `${message}: ${hints.join('; ')}` : message;
}

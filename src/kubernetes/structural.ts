// JSON Schema (draft 2020-12, as zod 4's z.toJSONSchema writes it) to a Kubernetes *structural*
// OpenAPI v3 schema, so a CRD validates with the same schema the plan parser uses and the two are
// never written twice. Kubernetes accepts a subset: a type at every level, no type/default/
// additionalProperties inside oneOf/anyOf, no propertyNames, no const, OpenAPI 3.0's boolean
// exclusiveMinimum. The conversion never makes the schema stricter than the source: where a
// construct cannot be said (a union of objects), it takes the loosest schema every variant fits, and
// the operator's zod parse stays the full check.
export type JsonSchema = { [key: string]: unknown };

/** Keywords a structural schema may carry, after conversion; anything else is dropped. */
const KEPT = new Set([
  'type',
  'description',
  'properties',
  'required',
  'items',
  'additionalProperties',
  'enum',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'maxProperties',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-validations',
]);

/** Converts one schema node; `defaults` false drops `default` (the parser fills them in, not the API server). */
export function toStructural(schema: JsonSchema): JsonSchema {
  const s = normalize(schema);
  if (Array.isArray(s.oneOf) || Array.isArray(s.anyOf)) {
    const variants = ((s.oneOf ?? s.anyOf) as JsonSchema[]).map(toStructural);
    return variants.reduce(loosest);
  }
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(s)) {
    if (!KEPT.has(k)) continue;
    if (k === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(v as Record<string, JsonSchema>).map(([name, p]) => [name, toStructural(p)]),
      );
    } else if (k === 'items') out.items = toStructural(v as JsonSchema);
    else if (k === 'additionalProperties') {
      // `false` beside properties: unknown fields are refused by kubectl's strict field validation
      // (the default since Kubernetes 1.27); the API server forbids saying it in the schema.
      if (typeof v === 'object' && v !== null) out.additionalProperties = toStructural(v as JsonSchema);
    } else out[k] = v;
  }
  if (out.properties && out.additionalProperties) {
    // A structural schema has named keys or a map, not both: named keys of a map (onFail's
    // `timeout` beside metric names) join its values' schema, and the plan's own check keeps them apart.
    let merged = out.additionalProperties as JsonSchema;
    for (const p of Object.values(out.properties as Record<string, JsonSchema>)) {
      const kinds = new Set(
        [merged, p].map((x) => (x['x-kubernetes-int-or-string'] ? 'int-or-string' : x.type)),
      );
      // A duration (int or string) beside string values: any int or string, checked by the plan.
      merged =
        kinds.size === 2 && kinds.has('int-or-string') && kinds.has('string')
          ? { 'x-kubernetes-int-or-string': true }
          : loosest(merged, p);
    }
    out.additionalProperties = merged;
    delete out.properties;
  }
  const names = s.propertyNames as JsonSchema | undefined;
  if (names && Array.isArray(names.enum)) {
    // Keys from a closed list: a CEL rule over them, and no more keys than the list has.
    const list = (names.enum as string[]).map((v) => `'${v}'`).join(', ');
    out['x-kubernetes-validations'] = [
      { rule: `self.all(k, k in [${list}])`, message: `keys must be one of ${list}` },
    ];
    out.maxProperties = names.enum.length;
  }
  // Keys by pattern (onFail's metric names): a CEL rule with the same pattern (RE2 reads it alike).
  if (names && typeof names.pattern === 'string') {
    const literal = names.pattern.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
    out['x-kubernetes-validations'] = [
      { rule: `self.all(k, k.matches('${literal}'))`, message: `keys must match ${names.pattern}` },
    ];
  }
  return out;
}

/** The 2020-12 forms Kubernetes does not read, in its OpenAPI 3.0 words. */
function normalize(schema: JsonSchema): JsonSchema {
  const s = { ...schema };
  delete s.$schema;
  if ('const' in s) {
    s.enum = [s.const];
    delete s.const;
  }
  if (Array.isArray(s.type)) {
    const types = [...(s.type as string[])].sort().join(',');
    // A duration written "30m" or as milliseconds.
    if (types === 'integer,string' || types === 'number,string') {
      delete s.type;
      s['x-kubernetes-int-or-string'] = true;
    } else {
      throw new Error(`cannot express a value of types ${types} in a structural schema`);
    }
  }
  if (typeof s.exclusiveMinimum === 'number') {
    s.minimum = s.exclusiveMinimum;
    s.exclusiveMinimum = true;
  }
  if (typeof s.exclusiveMaximum === 'number') {
    s.maximum = s.exclusiveMaximum;
    s.exclusiveMaximum = true;
  }
  return s;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The loosest schema that both a and b satisfy: union of properties and enums, intersection of
 * required fields, and only the bounds both share. Used for discriminated unions of objects.
 */
export function loosest(a: JsonSchema, b: JsonSchema): JsonSchema {
  if (same(a, b)) return a;
  const typeOf = (s: JsonSchema) => (s['x-kubernetes-int-or-string'] ? 'int-or-string' : s.type);
  if (typeOf(a) !== typeOf(b)) {
    throw new Error(`cannot merge a ${String(typeOf(a))} with a ${String(typeOf(b))} in a structural schema`);
  }
  const out: JsonSchema = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const [x, y] = [a[k], b[k]];
    if (k === 'properties') {
      const px = (x ?? {}) as Record<string, JsonSchema>;
      const py = (y ?? {}) as Record<string, JsonSchema>;
      out.properties = Object.fromEntries(
        [...new Set([...Object.keys(px), ...Object.keys(py)])].map((n) => [
          n,
          px[n] && py[n] ? loosest(px[n], py[n]) : (px[n] ?? py[n]),
        ]),
      );
    } else if (k === 'required') {
      const both = ((x ?? []) as string[]).filter((r) => ((y ?? []) as string[]).includes(r));
      if (both.length) out.required = both;
    } else if (k === 'enum') {
      // An enum on one side only: the other side allows any value of the type.
      if (x && y) out.enum = [...new Set([...(x as unknown[]), ...(y as unknown[])])];
    } else if (k === 'items' || k === 'additionalProperties') {
      if (x && y) out[k] = loosest(x as JsonSchema, y as JsonSchema);
    } else if (same(x, y)) out[k] = x;
  }
  return out;
}

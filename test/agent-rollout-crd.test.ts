// The AgentRollout CRD is generated from the zod plan schema: the committed copies (kubectl's and the
// Helm chart's) must be what the generator writes today, and the spec schema must be the plan's JSON
// schema (z.toJSONSchema) in Kubernetes' structural form, not a second hand-written schema. The real
// API server's view of it is tested in test/kube-operator.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import YAML from 'yaml';
import { agentRolloutCrd, agentRolloutCrdYaml, specSchema } from '../src/kubernetes/agent-rollout';
import { loosest, toStructural, type JsonSchema } from '../src/kubernetes/structural';
import { PlanInputSchema } from '../src/plan/schema';
import { CRD_FILES } from '../src/deploy-files';
import { ALL_METRICS } from '../src/analysis/types';

type Node = JsonSchema & { properties?: Record<string, Node>; items?: Node; additionalProperties?: Node };

/** Every rule of a structural schema that Kubernetes enforces, checked over the whole tree. */
function structuralProblems(s: Node, path = 'spec'): string[] {
  const out: string[] = [];
  if (!s.type && !s['x-kubernetes-int-or-string'] && !s['x-kubernetes-preserve-unknown-fields'])
    out.push(`${path}: no type`);
  for (const k of ['oneOf', 'anyOf', 'allOf', 'not', '$ref', 'const', 'propertyNames', '$schema', 'default'])
    if (k in s) out.push(`${path}: ${k}`);
  if (s.properties && s.additionalProperties !== undefined)
    out.push(`${path}: properties and additionalProperties`);
  if (typeof s.exclusiveMinimum === 'number' || typeof s.exclusiveMaximum === 'number')
    out.push(`${path}: numeric exclusive bound (OpenAPI 3.0 wants a boolean)`);
  for (const [name, p] of Object.entries(s.properties ?? {}))
    out.push(...structuralProblems(p, `${path}.${name}`));
  if (s.items) out.push(...structuralProblems(s.items, `${path}[]`));
  if (s.additionalProperties && typeof s.additionalProperties === 'object')
    out.push(...structuralProblems(s.additionalProperties, `${path}{}`));
  return out;
}

describe('AgentRollout CRD (generated from the plan schema)', () => {
  it('the committed CRD files are what `npm run gen:deploy` writes', () => {
    for (const file of CRD_FILES) {
      assert.equal(
        readFileSync(file, 'utf8'),
        agentRolloutCrdYaml(),
        `${file} is out of date: run npm run gen:deploy`,
      );
    }
  });

  it("the spec schema is the plan's JSON schema made structural, field for field", () => {
    const plan = z.toJSONSchema(PlanInputSchema, { io: 'input' }) as Node;
    const spec = specSchema() as Node;
    assert.deepEqual(Object.keys(spec.properties!).sort(), Object.keys(plan.properties!).sort());
    assert.deepEqual(spec.required, plan.required);
    const { description: _d, ...rest } = spec;
    assert.deepEqual(rest, toStructural(plan));
    // Bounds survive: a plan field's limits are the resource's limits.
    assert.equal(spec.properties!.agent.pattern, plan.properties!.agent.pattern);
    assert.equal(spec.properties!.stages.maxItems, 100);
    const weight = spec.properties!.stages.items!.properties!.weight;
    assert.deepEqual([weight.minimum, weight.exclusiveMinimum, weight.maximum], [0, true, 100]);
    assert.equal(spec.properties!.progressDeadline['x-kubernetes-int-or-string'], true);
  });

  it('passes every structural-schema rule of the API server (spec and status)', () => {
    const crd = agentRolloutCrd() as {
      spec: { versions: { schema: { openAPIV3Schema: Node } }[] };
    };
    const root = crd.spec.versions[0].schema.openAPIV3Schema;
    assert.deepEqual(structuralProblems(root.properties!.spec), []);
    assert.deepEqual(structuralProblems(root.properties!.status, 'status'), []);
    const yaml = YAML.parse(readFileSync(CRD_FILES[0], 'utf8'));
    assert.equal(yaml.metadata.name, 'agentrollouts.agent-canary.dev');
    assert.deepEqual(yaml.spec.versions[0].subresources, { status: {} });
  });

  it('a discriminated union (notify targets) becomes the loosest object every variant fits', () => {
    const notify = (specSchema() as Node).properties!.notify.items!;
    assert.equal(notify.type, 'object');
    assert.deepEqual(notify.properties!.type.enum, ['slack', 'webhook', 'log']);
    assert.deepEqual(notify.required, ['type']);
    for (const f of ['webhookUrl', 'webhookUrlEnv', 'url', 'secret', 'secretEnv'])
      assert.ok(notify.properties![f], `notify item has ${f}`);
    // Only bounds both variants share are kept; the operator's zod parse checks the rest.
    assert.deepEqual(
      loosest({ type: 'string', maxLength: 4 }, { type: 'string', maxLength: 8, pattern: 'x' }),
      { type: 'string' },
    );
    assert.throws(
      () => loosest({ type: 'string' }, { type: 'object' }),
      /cannot merge a string with a object/,
    );
  });

  it('map keys the plan restricts (thresholds by metric) become CEL rules the API server runs', () => {
    const thresholds = (specSchema() as Node).properties!.analysis.properties!.thresholds;
    // Every metric the judge knows, built-in and read from the answers, and nothing else.
    const list = ALL_METRICS.map((m) => `'${m}'`).join(', ');
    assert.deepEqual(thresholds['x-kubernetes-validations'], [
      { rule: `self.all(k, k in [${list}])`, message: `keys must be one of ${list}` },
    ]);
    assert.ok(list.includes("'quality_score'") && list.includes("'cost_per_request'"));
  });
});

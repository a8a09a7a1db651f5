// The pure HTTPRoute arithmetic of the kubernetes router (no API server): weights out of 10000,
// Service names from versions, which rules are the agent's, and the patch that touches only those.
import assert from 'node:assert/strict';
import {
  backendName,
  HTTPRouteSchema,
  readSplit,
  splitPatch,
  splitWeights,
  targetRules,
} from '../src/kubernetes/httproute';
import { RouterConfigError } from '../src/router/types';

const route = (annotations?: Record<string, string>) =>
  HTTPRouteSchema.parse({
    metadata: { name: 'bot', resourceVersion: '42', ...(annotations ? { annotations } : {}) },
    spec: {
      rules: [
        { backendRefs: [{ name: 'bot-v1' }] },
        {
          backendRefs: [
            { name: 'bot-v1', weight: 10000 },
            { name: 'bot-v2', weight: 0 },
            { name: 'bot-v0', weight: 3 },
          ],
        },
        { backendRefs: [{ name: 'other', weight: 1 }] },
      ],
    },
  });

describe('kubernetes router: HTTPRoute arithmetic', () => {
  it('maps percents with fractions to integer weights out of 10000, summing to 10000', () => {
    assert.deepEqual(splitWeights(12.34), { stable: 8766, canary: 1234 });
    assert.deepEqual(splitWeights(0.01), { stable: 9999, canary: 1 });
    assert.deepEqual(splitWeights(100), { stable: 0, canary: 10000 });
    assert.deepEqual(splitWeights(0), { stable: 10000, canary: 0 });
    for (const p of [0.5, 33.333, 66.67, 99.99]) {
      const w = splitWeights(p);
      assert.equal(w.stable + w.canary, 10000);
      assert.ok(Math.abs(w.canary / 100 - p) <= 0.005, `${p}% -> ${w.canary}`);
    }
  });

  it("names a version's Service as a DNS label, and refuses a name that cannot be one", () => {
    assert.equal(backendName('{agent}-{version}', 'support-bot', 'v1.3.2'), 'support-bot-v1-3-2');
    assert.equal(backendName('{agent}-{version}', 'Bot', 'V2_rc+1'), 'bot-v2-rc-1');
    assert.throws(
      () => backendName('{version}', 'bot', '1.2'),
      (e: Error) => e instanceof RouterConfigError && /--kube-backend/.test(e.message),
    );
    assert.throws(() => backendName('{agent}-{version}', 'bot', 'x'.repeat(80)), RouterConfigError);
  });

  it('takes the rules that list both versions (or stable beside another), never the others', () => {
    assert.deepEqual(targetRules(route(), 'bot-v1', 'bot-v2'), [
      { index: 1, stable: 0, canary: 1, others: [2] },
    ]);
    // No canary (rollback, promotion): the single-backend rule 0 is not a split, so it stays as it is.
    assert.deepEqual(targetRules(route(), 'bot-v2', null), [
      { index: 1, stable: 1, canary: -1, others: [0, 2] },
    ]);
    assert.deepEqual(targetRules(route(), 'bot-v1', 'bot-v9'), []);
  });

  it("patches only the target rules' weights and its own annotations, after testing the resourceVersion", () => {
    const r = route({ 'team/x': 'kept', 'agent-canary.dev/lease-expires-at': '2026-01-01T00:00:00Z' });
    const ops = splitPatch(r, targetRules(r, 'bot-v1', 'bot-v2'), splitWeights(25), {
      'agent-canary.dev/stable': 'v1',
      'agent-canary.dev/lease-expires-at': null,
    });
    assert.deepEqual(ops, [
      { op: 'test', path: '/metadata/resourceVersion', value: '42' },
      { op: 'add', path: '/spec/rules/1/backendRefs/0/weight', value: 7500 },
      { op: 'add', path: '/spec/rules/1/backendRefs/1/weight', value: 2500 },
      { op: 'add', path: '/spec/rules/1/backendRefs/2/weight', value: 0 },
      { op: 'add', path: '/metadata/annotations/agent-canary.dev~1stable', value: 'v1' },
      { op: 'remove', path: '/metadata/annotations/agent-canary.dev~1lease-expires-at' },
    ]);
    // No annotations at all yet: the map is added whole (a pointer into it would fail).
    const fresh = splitPatch(route(), [], splitWeights(0), { a: '1', b: null });
    assert.deepEqual(fresh[1], { op: 'add', path: '/metadata/annotations', value: { a: '1' } });
  });

  it('reads the share from the weights themselves (an unset weight counts 1)', () => {
    const r = route({
      'agent-canary.dev/stable': 'v1',
      'agent-canary.dev/stable-backend': 'bot-v1',
      'agent-canary.dev/canary-backend': 'bot-v2',
    });
    r.spec.rules![1].backendRefs = [{ name: 'bot-v1', weight: 3 }, { name: 'bot-v2' }];
    assert.equal(readSplit(r).canaryWeight, 25);
  });
});

// Worker settings read from the environment: bounded, and refused with the variable's name.
import assert from 'node:assert/strict';
import { DEFAULT_MAX_CACHED_WORKFLOWS, maxCachedWorkflowsFrom } from '../src/temporal/worker';

describe('worker settings', () => {
  it('keeps 2,000 rollouts cached unless told otherwise, whatever the heap', () => {
    assert.equal(maxCachedWorkflowsFrom({}), DEFAULT_MAX_CACHED_WORKFLOWS);
    assert.equal(DEFAULT_MAX_CACHED_WORKFLOWS, 2000);
    assert.equal(maxCachedWorkflowsFrom({ AGENT_CANARY_MAX_CACHED_WORKFLOWS: '' }), 2000);
    assert.equal(maxCachedWorkflowsFrom({ AGENT_CANARY_MAX_CACHED_WORKFLOWS: '500' }), 500);
  });

  it('refuses a cache size that is not a whole number in 2..100000, naming the variable', () => {
    for (const bad of ['abc', '1', '0', '-5', '2.5', '100001', '1e9']) {
      assert.throws(
        () => maxCachedWorkflowsFrom({ AGENT_CANARY_MAX_CACHED_WORKFLOWS: bad }),
        /^Error: AGENT_CANARY_MAX_CACHED_WORKFLOWS: must be/,
        bad,
      );
    }
  });
});

// Worker settings read from the environment: bounded, and refused with the variable's name.
import assert from 'node:assert/strict';
import { DEFAULT_MAX_CACHED_WORKFLOWS, maxCachedWorkflowsFrom } from '../src/temporal/worker';
import { WORKER_MALLOC_ARENA_MAX, WORKER_SEMI_SPACE_FLAG, workerRelaunch } from '../src/cli/commands/worker';

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

describe('worker process settings', () => {
  const argv: string[] = [];
  it('relaunches a Linux worker with 2 malloc arenas and a small young generation', () => {
    const r = workerRelaunch({ PATH: '/bin' }, argv, 'linux', true);
    assert.deepEqual(r, {
      env: { PATH: '/bin', MALLOC_ARENA_MAX: WORKER_MALLOC_ARENA_MAX },
      nodeFlags: [WORKER_SEMI_SPACE_FLAG],
    });
    assert.equal(WORKER_MALLOC_ARENA_MAX, '2');
  });

  it('keeps what the operator chose, and runs as it is where it cannot relaunch', () => {
    assert.equal(workerRelaunch({ MALLOC_ARENA_MAX: '8' }, argv, 'linux', true), undefined);
    assert.equal(workerRelaunch({ MALLOC_ARENA_MAX: '' }, argv, 'linux', true), undefined);
    assert.equal(workerRelaunch({}, argv, 'linux', false), undefined);
    assert.equal(workerRelaunch({}, argv, 'darwin', true), undefined);
    assert.deepEqual(workerRelaunch({}, ['--max-semi-space-size=32'], 'linux', true)?.nodeFlags, []);
    assert.deepEqual(
      workerRelaunch({ NODE_OPTIONS: '--max_semi_space_size=64' }, argv, 'linux', true)?.nodeFlags,
      [],
    );
  });
});

// Proves the harness: a workflow runs on the real dev server, and a search attribute it sets is
// found by a visibility query (what `agent-canary list` and the Web UI rely on).
import assert from 'node:assert/strict';
import { SA, TASK_QUEUE, WORKFLOW_TYPE, workflowIdFor } from '../workflows/messages';
import { resolvePlan } from '../src/plan';
import { fakeDeps } from './fakes';
import { eventually, testEnv, uniqueName, withWorker } from './harness';

describe('smoke: real Temporal dev server', function () {
  it('runs a rollout whose search attributes a visibility query finds', async function () {
    const { client } = testEnv();
    const agent = uniqueName('smoke');
    const { deps, metrics } = fakeDeps();
    metrics.set(agent, { rps: 500 });
    const plan = resolvePlan({
      agent,
      stable: 'v1',
      canary: 'v2',
      stages: [{ weight: 10, observe: '1s' }, { weight: 100 }],
      analysis: { interval: '300ms', judge: 'thresholds', minSamples: 10 },
      leaseTtl: '5s',
    });
    await withWorker(deps, async () => {
      const handle = await client.workflow.start(WORKFLOW_TYPE, {
        args: [plan],
        taskQueue: TASK_QUEUE,
        workflowId: workflowIdFor(agent),
      });
      const result = await handle.result();
      assert.equal(result.state, 'promoted');
      const found = await eventually(
        async () => {
          const ids: string[] = [];
          for await (const wf of client.workflow.list({
            query: `CanaryAgent = '${agent}' AND CanaryState = 'promoted'`,
          })) {
            ids.push(wf.workflowId);
            assert.equal(wf.typedSearchAttributes.get(SA.percent), 100);
          }
          return ids;
        },
        (ids) => ids.length === 1,
        { what: 'visibility to show the promoted rollout' },
      );
      assert.deepEqual(found, [workflowIdFor(agent)]);
    });
  });
});

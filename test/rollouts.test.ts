// The client API used by the CLI, the demo and tests: identity, Web UI metadata, and clear errors
// when no worker is there to answer.
import assert from 'node:assert/strict';
import { resolvePlan } from '../src/plan';
import { AlreadyRunningError, NoWorkerError } from '../src/temporal/errors';
import { getStatus, listRollouts, sendCommand, startRollout } from '../src/temporal/rollouts';
import { SA, workflowIdFor } from '../workflows/messages';
import { eventually, testEnv, uniqueName } from './harness';

function plan(agent: string) {
  return resolvePlan({
    agent,
    stable: 'v1.0.0',
    canary: 'v1.1.0',
    stages: [{ weight: 5, observe: '10m' }, { weight: 50, observe: '1h' }, { weight: 100 }],
  });
}

describe('rollouts client API (no worker running)', function () {
  this.timeout(60_000);

  it('starts with search attributes and a readable summary, and refuses a second start', async () => {
    const { client } = testEnv();
    const agent = uniqueName('api');
    const p = plan(agent);
    const started = await startRollout(client, p);
    const handle = client.workflow.getHandle(started.workflowId);
    try {
      assert.equal(started.workflowId, workflowIdFor(agent));
      await assert.rejects(
        startRollout(client, p),
        (e) => e instanceof AlreadyRunningError && e.message.includes(`(workflow canary-${agent})`),
      );
      const d = await handle.describe();
      assert.equal(d.typedSearchAttributes.get(SA.agent), agent);
      assert.equal(d.typedSearchAttributes.get(SA.state), 'progressing');
      assert.equal(d.typedSearchAttributes.get(SA.percent), 0);
      assert.equal(d.typedSearchAttributes.get(SA.canaryVersion), 'v1.1.0');
      assert.equal(d.typedSearchAttributes.get(SA.stableVersion), 'v1.0.0');
      assert.equal(await d.staticSummary(), `${agent}: v1.0.0 -> v1.1.0 (5% 10m, 50% 1h, 100%)`);
      assert.match((await d.staticDetails()) ?? '', /\| 2 \| 50 \| 1h \|/);

      const rows = await eventually(
        () => listRollouts(client, { agent, running: true }),
        (r) => r.length === 1,
        { what: 'visibility to list the new rollout' },
      );
      assert.deepEqual(
        [rows[0].agent, rows[0].state, rows[0].percent, rows[0].status],
        [agent, 'progressing', 0, 'RUNNING'],
      );
    } finally {
      await handle.terminate('test cleanup');
    }
  });

  it('says no worker answered instead of hanging, and that a command was not sent', async () => {
    const { client } = testEnv();
    const agent = uniqueName('api-noworker');
    // A queue no worker of this test run polls (workers of other suites poll the default one).
    const started = await startRollout(client, plan(agent), { taskQueue: uniqueName('no-worker-queue') });
    try {
      const t0 = Date.now();
      await assert.rejects(
        getStatus(client, agent, { timeoutMs: 2_000 }),
        (e) =>
          e instanceof NoWorkerError &&
          /no worker answered/.test(e.message) &&
          /agent-canary worker/.test(e.message),
      );
      await assert.rejects(
        sendCommand(client, agent, 'pause', { by: 'test' }, { timeoutMs: 2_000 }),
        (e) => e instanceof NoWorkerError && /the pause command .* was not sent/.test(e.message),
      );
      assert.ok(Date.now() - t0 < 15_000, `${Date.now() - t0}ms`);
    } finally {
      await client.workflow.getHandle(started.workflowId).terminate('test cleanup');
    }
  });
});

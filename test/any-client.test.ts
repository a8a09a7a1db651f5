// Any Temporal client can start and steer a rollout: here the plain `temporal` CLI, with the plan as
// a team writes it (JSON of the YAML), resolved and checked by the rollout's first activity (patch
// plan-at-edge: the workflow sandbox holds no plan parser).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { findTemporalCli } from '../src/temporal/cli-finder';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TASK_QUEUE, WORKFLOW_TYPE, statusQuery, workflowIdFor } from '../workflows/messages';
import { saveHistory } from './support/histories';
import { fakeDeps } from './fakes';
import { eventually, testEnv, uniqueName, withWorker } from './harness';

const run = promisify(execFile);

describe('any Temporal client', function () {
  this.timeout(60_000);

  it('`temporal workflow start` with a plan as written, then abort by `temporal workflow signal`', async () => {
    const temporal = await findTemporalCli({ log: () => undefined });
    const { address, namespace, client } = testEnv();
    const { deps, router, metrics } = fakeDeps();
    const agent = uniqueName('cli-start');
    metrics.set(agent, { rps: 100 });
    const plan = {
      agent,
      stable: 'v1',
      canary: 'v2',
      stages: [{ weight: 15, observe: '10m' }, { weight: 100 }],
    };
    const common = ['--address', address, '--namespace', namespace, '--workflow-id', workflowIdFor(agent)];
    await withWorker(deps, async () => {
      await run(temporal, [
        'workflow',
        'start',
        ...common,
        '--type',
        'canaryRollout',
        '--task-queue',
        'agent-canary',
        '--input',
        JSON.stringify(plan),
      ]);
      const handle = client.workflow.getHandle(workflowIdFor(agent));
      const s = await eventually(
        () => handle.query(statusQuery),
        (x) => x.canaryPercent === 15,
        {
          what: 'stage 1 at 15%',
        },
      );
      assert.equal(s.stageCount, 2);
      assert.equal(router.canaryWeight(agent), 15);
      await run(temporal, [
        'workflow',
        'signal',
        ...common,
        '--name',
        'abort',
        '--input',
        '{"reason":"from the temporal CLI"}',
      ]);
      const result = await handle.result();
      assert.deepEqual([result.state, result.stable], ['aborted', 'v1']);
      assert.equal(router.canaryWeight(agent), 0);
      await saveHistory('v7-plan-at-edge-aborted', handle);
    });
  });

  it('a plan as written with a mistake fails the run at once, naming the field, with no traffic moved', async () => {
    const { client } = testEnv();
    const { deps, router } = fakeDeps();
    const agent = uniqueName('bad-plan');
    await withWorker(deps, async () => {
      const handle = await client.workflow.start(WORKFLOW_TYPE, {
        args: [{ agent, stable: 'v1', canary: 'v2', stages: [{ weight: 150, observe: '1m' }] }],
        taskQueue: TASK_QUEUE,
        workflowId: workflowIdFor(agent),
      });
      const err = await handle.result().then(
        () => assert.fail('a plan with weight 150 ran'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError, String(err));
      const cause = err.cause;
      assert.ok(cause instanceof ApplicationFailure, String(cause));
      assert.equal(cause.type, 'PlanError');
      assert.match(cause.message, /stages\.0\.weight/);
      assert.equal(router.canaryWeight(agent), 0);
    });
  });
});

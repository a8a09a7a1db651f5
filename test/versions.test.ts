// Code versions (docs/versions.md): the patch registry is the one record of behaviour switches, the
// saved histories cover every supported code version, and `list --code-version-below` finds the
// rollouts a release that retires a version would strand.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { CODE_VERSION, OLDEST_SUPPORTED_CODE_VERSION, PATCHES, WORKFLOW_TYPE } from '../src/contract';
import { resolvePlan } from '../src/plan';
import { listRollouts, startRollout } from '../src/temporal/rollouts';
import { workflowIdFor } from '../workflows/messages';
import { HISTORIES_DIR } from './support/histories';
import { eventually, testEnv, uniqueName } from './harness';

describe('code versions', function () {
  this.timeout(60_000);

  it('every patch is registered once, with its version, date and reason; the newest is the code version', () => {
    const patches = Object.values(PATCHES);
    assert.equal(new Set(patches.map((p) => p.id)).size, patches.length, 'a patch id used twice');
    for (const p of patches) {
      assert.match(p.since, /^\d{4}-\d{2}-\d{2}$/, `${p.id}: since`);
      assert.ok(p.reason.length > 20, `${p.id}: say why`);
      assert.ok(Number.isInteger(p.version) && p.version >= 2, `${p.id}: version`);
    }
    assert.equal(CODE_VERSION, Math.max(...patches.map((p) => p.version)));
    // Only versions below the oldest supported one may be retired.
    for (const p of patches.filter((x) => 'deprecated' in x)) {
      assert.ok(
        p.version <= OLDEST_SUPPORTED_CODE_VERSION,
        `${p.id} deprecated while its version is supported`,
      );
    }
  });

  it('the replay set has a saved history of every supported code version, and none older', async () => {
    const files = (await fs.readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.json'));
    const versions = new Set(files.map((f) => Number(/^v(\d+)-/.exec(f)?.[1] ?? 1)));
    for (let v = OLDEST_SUPPORTED_CODE_VERSION; v <= CODE_VERSION; v++) {
      assert.ok(versions.has(v), `no saved history of code version ${v} (v${v}-*.json)`);
    }
    assert.ok(Math.min(...versions) >= OLDEST_SUPPORTED_CODE_VERSION, 'a retired version is still replayed');
  });

  it('list --code-version-below counts the rollouts started on older code, or with none recorded', async () => {
    const { client } = testEnv();
    // No worker: the rollouts only need to exist in visibility.
    const taskQueue = uniqueName('versions');
    const ours = uniqueName('ver-ours');
    const other = uniqueName('ver-other');
    const plan = (agent: string) =>
      resolvePlan({
        agent,
        stable: 'v1',
        canary: 'v2',
        stages: [{ weight: 10, observe: '1m' }, { weight: 100 }],
      });
    await startRollout(client, plan(ours), { taskQueue });
    // As another client starts it: no code version recorded.
    await client.workflow.start(WORKFLOW_TYPE, {
      args: [plan(other)],
      taskQueue,
      workflowId: workflowIdFor(other),
    });
    try {
      const agentsBelow = async (v: number) =>
        (await listRollouts(client, { codeVersionBelow: v, running: true, limit: 1000 }))
          .map((r) => r.agent)
          .filter((a) => a === ours || a === other)
          .sort();
      await eventually(
        () => agentsBelow(CODE_VERSION + 1),
        (a) => a.length === 2,
        { what: 'both rollouts below the next code version' },
      );
      assert.deepEqual(await agentsBelow(CODE_VERSION), [other]);
    } finally {
      for (const a of [ours, other]) await client.workflow.getHandle(workflowIdFor(a)).terminate('test over');
    }
  });
});

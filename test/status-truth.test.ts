// What the client tells the operator, against the real dev server: the real state of closed
// executions with their cause, and commands told apart as not sent, accepted and still applying, or done.
import assert from 'node:assert/strict';
import { resolvePlan } from '../src/plan';
import { CommandPendingError, CommandRefusedError } from '../src/temporal/errors';
import { getStatus, hasEnded, listRollouts, sendCommand, startRollout } from '../src/temporal/rollouts';
import { renderStatus } from '../src/cli/render';
import { fakeDeps } from './fakes';
import { eventually, testEnv, uniqueName, withWorker } from './harness';

function plan(agent: string) {
  return resolvePlan({
    agent,
    stable: 'v1',
    canary: 'v2',
    stages: [{ weight: 10, observe: '1m' }, { weight: 100 }],
    analysis: { interval: '300ms', judge: 'thresholds', minSamples: 20 },
    leaseTtl: '30s',
  });
}

describe('status and commands tell the truth', function () {
  this.timeout(90_000);

  it('a terminated rollout shows TERMINATED with the reason, stops counting, and refuses commands', async () => {
    const { client } = testEnv();
    const { deps, metrics, router } = fakeDeps();
    const agent = uniqueName('terminated');
    metrics.set(agent, { rps: 100 });
    await withWorker(deps, async () => {
      await startRollout(client, plan(agent));
      await eventually(
        () => router.canaryWeight(agent),
        (w) => w === 10,
        { what: 'stage 1 in place' },
      );
      await client.workflow.getHandle(`canary-${agent}`).terminate('operator pulled the plug');
      const s = await getStatus(client, agent);
      assert.equal(s.execution?.status, 'TERMINATED');
      assert.equal(s.execution?.cause, 'operator pulled the plug');
      assert.equal(s.remainingMs, 0);
      assert.ok(hasEnded(s), '--watch ends on it');
      const text = renderStatus(s, { now: Date.now() + 60_000 });
      assert.match(text, /TERMINATED: operator pulled the plug/);
      assert.doesNotMatch(text, /observed .* of/, 'no countdown for a closed execution');
      await assert.rejects(
        sendCommand(client, agent, 'promote', { by: 'test' }),
        (e) =>
          e instanceof CommandRefusedError &&
          /already ended \(terminated: operator pulled the plug\)/.test(e.message),
      );
      const live = await eventually(
        () => listRollouts(client, { agent }),
        (rows) => rows.length === 1 && rows[0].status === 'TERMINATED',
        { what: 'visibility to show the terminate' },
      );
      assert.equal(live[0].status, 'TERMINATED');
      const progressing = await listRollouts(client, { agent, state: 'progressing' });
      assert.equal(progressing.length, 0, 'a terminated rollout is not listed as progressing');
    });
  });

  it('a failed rollout shows FAILED with the router’s words', async () => {
    const { client } = testEnv();
    const { deps, router } = fakeDeps();
    const agent = uniqueName('failed');
    router.unknownAgents.add(agent);
    await withWorker(deps, async () => {
      const started = await startRollout(client, plan(agent));
      await started.result().catch(() => undefined);
      const s = await getStatus(client, agent);
      assert.equal(s.execution?.status, 'FAILED');
      assert.equal(s.execution?.cause, `the router refused the split: HTTP 404 unknown agent "${agent}"`);
    });
  });

  it('an abort accepted while the router is down is reported as still applying, then happens', async () => {
    const { client } = testEnv();
    const { deps, metrics, router } = fakeDeps();
    const agent = uniqueName('pending-abort');
    metrics.set(agent, { rps: 100 });
    await withWorker(deps, async () => {
      const started = await startRollout(client, plan(agent));
      await eventually(
        () => router.canaryWeight(agent),
        (w) => w === 10,
        { what: 'stage 1 in place' },
      );
      router.down = true;
      await assert.rejects(
        sendCommand(client, agent, 'abort', { reason: 'bad answers', by: 'test' }, { timeoutMs: 3_000 }),
        (e) =>
          e instanceof CommandPendingError &&
          /abort accepted .* still being carried out: waiting for the router to take "abort: v1 100%"/.test(
            e.message,
          ),
      );
      // Accepted means it will happen: once the router is back, with no second command.
      router.down = false;
      const result = await started.result();
      assert.equal(result.state, 'aborted');
      assert.equal(router.canaryWeight(agent), 0);
    });
  });

  it('pause and resume take effect at once and answer done', async () => {
    const { client } = testEnv();
    const { deps, metrics, router } = fakeDeps();
    const agent = uniqueName('pause-now');
    metrics.set(agent, { rps: 100, hang: true });
    await withWorker(deps, async () => {
      const started = await startRollout(client, plan(agent));
      await eventually(
        () => router.canaryWeight(agent),
        (w) => w === 10,
        { what: 'stage 1 in place' },
      );
      // A check hangs on the metrics source; the pause does not wait for it.
      const t0 = Date.now();
      const paused = await sendCommand(client, agent, 'pause', { by: 'test' });
      assert.equal(paused.state, 'paused');
      assert.ok(Date.now() - t0 < 5_000, `${Date.now() - t0} ms`);
      const resumed = await sendCommand(client, agent, 'resume', { by: 'test' });
      assert.equal(resumed.state, 'progressing');
      await sendCommand(client, agent, 'abort', { reason: 'done', by: 'test' });
      assert.equal((await started.result()).state, 'aborted');
    });
  });
});

// The canaryRollout workflow on the real dev server, with steerable metrics and an in-memory router.
import assert from 'node:assert/strict';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { resolvePlan, type PlanInput, type ResolvedPlan } from '../src/plan';
import {
  TASK_QUEUE,
  WORKFLOW_TYPE,
  abortUpdate,
  pauseUpdate,
  promoteUpdate,
  resumeUpdate,
  statusQuery,
  workflowIdFor,
  type RolloutResult,
  type RolloutStatus,
} from '../workflows/messages';
import { BROKEN, HEALTHY, fakeDeps } from './fakes';
import { eventually, testEnv, uniqueName, withWorker } from './harness';
import { saveHistory } from './support/histories';

function testPlan(agent: string, overrides: Partial<PlanInput> = {}): ResolvedPlan {
  return resolvePlan({
    agent,
    stable: 'v1',
    canary: 'v2',
    stages: [
      { weight: 5, observe: '1500ms' },
      { weight: 25, observe: '1500ms' },
      { weight: 50, observe: '1500ms' },
      { weight: 100 },
    ],
    analysis: {
      interval: '300ms',
      failureLimit: 2,
      minSamples: 20,
      judge: 'thresholds',
      inconclusiveLimit: 5,
    },
    leaseTtl: '10s',
    notify: [{ type: 'log' }],
    ...overrides,
  });
}

async function start(plan: ResolvedPlan, options?: object) {
  return testEnv().client.workflow.start(WORKFLOW_TYPE, {
    args: options ? [plan, options] : [plan],
    taskQueue: TASK_QUEUE,
    workflowId: workflowIdFor(plan.agent),
  });
}

type Handle = Awaited<ReturnType<typeof start>>;
const status = (h: Handle) => h.query(statusQuery);
const until = (h: Handle, pred: (s: RolloutStatus) => boolean, what: string, timeoutMs = 20_000) =>
  eventually(() => status(h), pred, { what, timeoutMs });

describe('canaryRollout workflow', function () {
  this.timeout(60_000);

  it('walks a healthy canary through every stage and promotes it', async function () {
    const agent = uniqueName('healthy');
    const { deps, router, metrics, notifier } = fakeDeps();
    metrics.set(agent, { rps: 300 });
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent));
      const result = (await h.result()) as RolloutResult;
      assert.equal(result.state, 'promoted');
      assert.equal(result.stable, 'v2');
      // Every stage was set in order, and the final write makes the canary the stable.
      const weights = [...new Set(router.weightsSeen(agent))];
      assert.deepEqual(weights, [5, 25, 50, 0]);
      const final = router.splits.get(agent)!;
      assert.deepEqual([final.stable, final.canary, final.leaseExpiresAt], ['v2', null, null]);
      const s = await status(h);
      assert.equal(s.state, 'promoted');
      assert.equal(s.canaryPercent, 100);
      assert.deepEqual(
        s.decisions.map((d) => d.action),
        ['started', 'stage_started', 'stage_started', 'stage_started', 'promoted'],
      );
      assert.deepEqual(
        notifier.events.map((e) => e.type),
        ['started', 'stage_advanced', 'stage_advanced', 'promoted'],
      );
      await saveHistory('v2-promoted', h);
    });
  });

  it('rolls a broken canary back at the first stage, leaving stable at 100%', async function () {
    const agent = uniqueName('broken');
    const { deps, router, metrics, notifier } = fakeDeps();
    metrics.set(agent, { rps: 300, canary: BROKEN });
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent));
      const result = (await h.result()) as RolloutResult;
      assert.equal(result.state, 'rolled_back');
      assert.equal(result.stable, 'v1');
      assert.equal(router.canaryWeight(agent), 0);
      assert.equal(router.splits.get(agent)!.stable, 'v1');
      const s = await status(h);
      assert.equal(s.stageIndex, 0);
      assert.equal(s.canaryPercent, 0);
      assert.match(s.decisions.at(-1)!.reason, /error_rate/);
      const rolledBack = notifier.events.find((e) => e.type === 'rolled_back');
      assert.ok(rolledBack?.verdict, 'the rollback notification carries the verdict with its numbers');
      await saveHistory('v2-rolled-back', h);
    });
  });

  it('rolls back at a middle stage when the canary degrades there', async function () {
    const agent = uniqueName('middle');
    const { deps, router, metrics } = fakeDeps();
    metrics.set(agent, { rps: 300 });
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent));
      await until(h, (s) => s.stageIndex === 1, 'stage 2');
      metrics.set(agent, { canary: { ...HEALTHY, p99: 5000 } });
      const result = (await h.result()) as RolloutResult;
      assert.equal(result.state, 'rolled_back');
      const s = await status(h);
      assert.equal(s.stageIndex, 1);
      assert.match(s.decisions.at(-1)!.reason, /p99_latency_ms/);
      assert.equal(router.canaryWeight(agent), 0);
      assert.ok(!router.weightsSeen(agent).includes(50), 'never reached 50%');
    });
  });

  it('rolls back only after failureLimit failed checks, and a blip below the limit passes', async function () {
    const agent = uniqueName('limit');
    const { deps, metrics } = fakeDeps();
    metrics.set(agent, { rps: 300 });
    const plan = testPlan(agent, {
      stages: [{ weight: 10, observe: '3s' }, { weight: 100 }],
      analysis: { interval: '300ms', failureLimit: 3, minSamples: 20, judge: 'thresholds' },
    });
    await withWorker(deps, async () => {
      // A blip: one failing check, then healthy again. Below the limit: the canary goes on.
      const h = await start(plan);
      await until(h, (s) => s.lastAnalysis?.verdict === 'pass', 'a first passing check');
      metrics.set(agent, { canary: BROKEN });
      await until(h, (s) => s.failedChecks === 1, 'one failed check');
      metrics.set(agent, { canary: HEALTHY });
      assert.equal(((await h.result()) as RolloutResult).state, 'promoted');

      // A lasting degradation: rolled back at the third failed check, not before.
      const agent2 = uniqueName('limit');
      metrics.set(agent2, { rps: 300, canary: BROKEN });
      const h2 = await start({ ...plan, agent: agent2 });
      assert.equal(((await h2.result()) as RolloutResult).state, 'rolled_back');
      const s2 = await status(h2);
      const actions = s2.decisions.map((d) => d.action);
      assert.equal(actions.filter((a) => a === 'check_failed').length, 3);
      assert.equal(actions.at(-1), 'rolled_back');
    });
  });

  it('never promotes a canary without data: it pauses after the inconclusive streak', async function () {
    const agent = uniqueName('nodata');
    const { deps, router, metrics, notifier } = fakeDeps();
    metrics.set(agent, { rps: 0 });
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent, { stages: [{ weight: 5, observe: '500ms' }, { weight: 100 }] }));
      const s = await until(h, (st) => st.state === 'paused', 'pause after the inconclusive streak');
      assert.equal(s.stageIndex, 0);
      assert.equal(s.decisions.at(-1)!.action, 'inconclusive_streak');
      assert.ok(s.lastAnalysis!.metrics.every((m) => m.status === 'nodata'));
      await eventually(
        () => notifier.events.map((e) => e.type),
        (t) => t.includes('inconclusive_streak'),
      );
      assert.ok(!router.weightsSeen(agent).some((w) => w > 5));
      await h.executeUpdate(abortUpdate, { args: [{ reason: 'cleanup', by: 'test' }] });
    });
  });

  it('pause freezes the window and resume continues it; a degradation while paused still rolls back', async function () {
    const agent = uniqueName('pause');
    const { deps, router, metrics } = fakeDeps();
    metrics.set(agent, { rps: 300 });
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent, { stages: [{ weight: 5, observe: '2s' }, { weight: 100 }] }));
      await until(h, (s) => s.lastAnalysis !== null, 'a first check');
      const paused = await h.executeUpdate(pauseUpdate, {
        args: [{ reason: 'looking at logs', by: 'alice' }],
      });
      assert.equal(paused.state, 'paused');
      const frozen = paused.observedMs;
      // Several check intervals pass while paused: checks go on, the clock does not.
      const checksBefore = metrics.queries.filter((q) => q.agent === agent).length;
      await eventually(
        () => metrics.queries.filter((q) => q.agent === agent).length,
        (n) => n >= checksBefore + 4,
        {
          what: 'checks while paused',
        },
      );
      const still = await status(h);
      assert.equal(still.state, 'paused');
      assert.equal(still.observedMs, frozen);
      assert.equal(still.stageIndex, 0);
      await assert.rejects(h.executeUpdate(pauseUpdate, { args: [{}] }), (err: unknown) => {
        assert.ok(err instanceof WorkflowUpdateFailedError);
        assert.match(String(((err as Error).cause as Error | undefined)?.message ?? err), /already paused/);
        return true;
      });
      const resumed = await h.executeUpdate(resumeUpdate, { args: [{ by: 'alice' }] });
      assert.equal(resumed.state, 'progressing');
      assert.equal(((await h.result()) as RolloutResult).state, 'promoted');
      const d = (await status(h)).decisions.find((x) => x.action === 'paused')!;
      assert.deepEqual([d.by, d.reason], ['alice', 'looking at logs']);

      const agent2 = uniqueName('pause');
      metrics.set(agent2, { rps: 300 });
      const h2 = await start(testPlan(agent2));
      await until(h2, (s) => s.lastAnalysis !== null, 'a first check');
      await h2.executeUpdate(pauseUpdate, { args: [{ by: 'bob' }] });
      metrics.set(agent2, { canary: BROKEN });
      assert.equal(((await h2.result()) as RolloutResult).state, 'rolled_back');
      assert.equal(router.canaryWeight(agent2), 0);
    });
  });

  it('promote moves to the next stage now, promote full goes straight to 100%', async function () {
    const agent = uniqueName('promote');
    const { deps, router, metrics } = fakeDeps();
    metrics.set(agent, { rps: 300 });
    const long = testPlan(agent, {
      stages: [
        { weight: 5, observe: '1h' },
        { weight: 25, observe: '1h' },
        { weight: 50, observe: '1h' },
        { weight: 100 },
      ],
    });
    await withWorker(deps, async () => {
      const h = await start(long);
      await until(h, (s) => s.lastAnalysis !== null, 'a first check');
      const next = await h.executeUpdate(promoteUpdate, { args: [{ by: 'carol', reason: 'looks good' }] });
      assert.equal(next.stageIndex, 1);
      assert.equal(next.canaryPercent, 25);
      assert.equal(router.canaryWeight(agent), 25);
      const full = await h.executeUpdate(promoteUpdate, { args: [{ full: true, by: 'carol' }] });
      assert.equal(full.state, 'promoted');
      assert.equal(((await h.result()) as RolloutResult).state, 'promoted');
      assert.equal(router.splits.get(agent)!.stable, 'v2');
      // The server refuses Updates to a closed workflow; the CLI turns this into "already promoted".
      await assert.rejects(h.executeUpdate(promoteUpdate, { args: [{}] }), /already completed/);
    });
  });

  it('takes an abort sent as a plain Signal, as other tooling would', async function () {
    const agent = uniqueName('abort');
    const { deps, router, metrics } = fakeDeps();
    metrics.set(agent, { rps: 300 });
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent, { stages: [{ weight: 30, observe: '1h' }, { weight: 100 }] }));
      await until(h, (s) => s.canaryPercent === 30, 'stage 1');
      // A plain client by signal name, no shared definitions: what a script or the Web UI sends.
      await testEnv()
        .client.workflow.getHandle(workflowIdFor(agent))
        .signal('abort', { reason: 'bad vibes', by: 'ops-bot' });
      const result = (await h.result()) as RolloutResult;
      assert.equal(result.state, 'aborted');
      assert.equal(router.canaryWeight(agent), 0);
      const last = (await status(h)).decisions.at(-1)!;
      assert.deepEqual([last.action, last.by, last.reason], ['aborted', 'ops-bot', 'bad vibes']);
      await saveHistory('v2-aborted-by-signal', h);
    });
  });

  it('returns all traffic to stable when the workflow is cancelled', async function () {
    const agent = uniqueName('cancel');
    const { deps, router, metrics } = fakeDeps();
    metrics.set(agent, { rps: 300 });
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent, { stages: [{ weight: 40, observe: '1h' }, { weight: 100 }] }));
      await until(h, (s) => s.canaryPercent === 40, 'stage 1');
      router.failures = 2; // the router is flaky at the worst moment: the rollback retries through
      await h.cancel();
      await assert.rejects(h.result(), WorkflowFailedError);
      assert.equal(router.canaryWeight(agent), 0);
      assert.equal(router.splits.get(agent)!.stable, 'v1');
      assert.equal((await status(h)).state, 'aborted');
      await saveHistory('v2-cancelled', h);
    });
  });

  it('a slow or failing notification channel never delays a rollback, and its failure shows in status', async function () {
    const agent = uniqueName('notify');
    const { router, metrics } = fakeDeps();
    metrics.set(agent, { rps: 300, canary: BROKEN });
    // A channel that answers only after 10s (bounded, like every real notifier's own timeout).
    let slowAnswered = 0;
    const slow = () =>
      new Promise<void>((resolve) =>
        setTimeout(() => {
          slowAnswered += 1;
          resolve();
        }, 10_000),
      );
    const deps = {
      router,
      metrics,
      notifiers: () => [
        { name: 'slow', send: slow },
        {
          name: 'broken-webhook',
          send: async () => Promise.reject(new Error('HTTP 500 from https://ops.example/hook')),
        },
      ],
    };
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent));
      // Traffic is back on stable while the slow channel still has not answered.
      await eventually(
        () => router.writes.filter((w) => w.agent === agent && w.desired.canary === null).length,
        (n) => n === 1,
        {
          what: 'the rollback split write',
        },
      );
      assert.equal(router.canaryWeight(agent), 0);
      assert.equal(slowAnswered, 0, 'rolled back before the slow channel answered');
      const s = await until(h, (st) => st.notifyFailures.length > 0, 'the failed delivery in status');
      assert.equal(s.notifyFailures[0].target, 'broken-webhook');
      assert.match(s.notifyFailures[0].error, /HTTP 500/);
      assert.equal(((await h.result()) as RolloutResult).state, 'rolled_back');
    });
  });

  it('refuses a second rollout for an agent with one running, naming it', async function () {
    const agent = uniqueName('dup');
    const { deps, metrics } = fakeDeps();
    metrics.set(agent, { rps: 300 });
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent, { stages: [{ weight: 5, observe: '1h' }, { weight: 100 }] }));
      await assert.rejects(start(testPlan(agent)), (err: unknown) => {
        assert.ok(err instanceof WorkflowExecutionAlreadyStartedError);
        assert.equal((err as WorkflowExecutionAlreadyStartedError).workflowId, workflowIdFor(agent));
        return true;
      });
      await h.executeUpdate(abortUpdate, { args: [{ reason: 'cleanup' }] });
      await h.result();
      // A finished agent can be rolled out again.
      const again = await start(
        testPlan(agent, { stages: [{ weight: 5, observe: '300ms' }, { weight: 100 }] }),
      );
      assert.equal(((await again.result()) as RolloutResult).state, 'promoted');
    });
  });

  it('continues as new at a safe point and carries its state', async function () {
    const agent = uniqueName('can');
    const { deps, metrics } = fakeDeps();
    metrics.set(agent, { rps: 300 });
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent), { continueAsNewAfterEvents: 40 });
      const first = (await h.describe()).runId;
      const result = (await testEnv()
        .client.workflow.getHandle(workflowIdFor(agent))
        .result()) as RolloutResult;
      assert.equal(result.state, 'promoted');
      const last = await testEnv().client.workflow.getHandle(workflowIdFor(agent)).describe();
      assert.notEqual(last.runId, first, 'a new run was started');
      const s = await testEnv().client.workflow.getHandle(workflowIdFor(agent)).query(statusQuery);
      // Decisions made before the continue-as-new are still there.
      assert.equal(s.decisions[0].action, 'started');
      assert.equal(s.decisions.filter((d) => d.action === 'stage_started').length, 3);
    });
  });
});

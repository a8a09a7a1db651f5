// The control loop off the happy path, on the real dev server: commands that never wait behind a
// stuck check or a dead router, errors told apart by kind, and a workflow that checks its own input.
// Prints the abort latencies the issue asks for (p50/max).
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { resolvePlan, type PlanInput, type ResolvedPlan } from '../src/plan';
import {
  TASK_QUEUE,
  WORKFLOW_TYPE,
  abortSignal,
  abortUpdate,
  statusQuery,
  workflowIdFor,
  type RolloutStatus,
} from '../workflows/messages';
import { fakeDeps, type FakeRouter } from './fakes';
import { eventually, testEnv, uniqueName, withWorker } from './harness';
import { saveHistory } from './support/histories';

function testPlan(agent: string, overrides: Partial<PlanInput> = {}): ResolvedPlan {
  return resolvePlan({
    agent,
    stable: 'v1',
    canary: 'v2',
    stages: [{ weight: 10, observe: '20s' }, { weight: 100 }],
    analysis: { interval: '300ms', minSamples: 20, judge: 'thresholds', inconclusiveLimit: 50 },
    leaseTtl: '30s',
    notify: [{ type: 'log' }],
    ...overrides,
  });
}

function start(input: unknown, workflowId: string) {
  return testEnv().client.workflow.start(WORKFLOW_TYPE, { args: [input], taskQueue: TASK_QUEUE, workflowId });
}

type Handle = Awaited<ReturnType<typeof start>>;
const status = (h: Handle) => h.query(statusQuery);
const until = (h: Handle, pred: (s: RolloutStatus) => boolean, what: string, timeoutMs = 20_000) =>
  eventually(() => status(h), pred, { what, timeoutMs, intervalMs: 50 });

/** Polls the router (in this process) until the agent is on stable only; returns when it was seen. */
async function stableSeen(router: FakeRouter, agent: string, timeoutMs = 30_000): Promise<number> {
  await eventually(
    () => router.splits.get(agent),
    (s) => !!s && s.canary === null && s.stable === 'v1',
    { what: `${agent} back on stable`, timeoutMs, intervalMs: 5 },
  );
  return Date.now();
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.ceil(q * xs.length) - 1];

describe('control loop under partial failures', function () {
  this.timeout(120_000);

  it('an abort puts stable back within a second while the check waits on a dead metrics source', async () => {
    const { deps, router, metrics } = fakeDeps();
    const latencies: number[] = [];
    await withWorker(deps, async () => {
      for (let i = 0; i < 10; i++) {
        const agent = uniqueName('stuck-metrics');
        metrics.set(agent, { hang: true });
        const h = await start(testPlan(agent), workflowIdFor(agent));
        // The first check is in flight and its metrics read never answers.
        await eventually(
          () => metrics.queries.filter((q) => q.agent === agent).length,
          (n) => n >= 1,
          { what: 'a check waiting on metrics', intervalMs: 10 },
        );
        const t0 = Date.now();
        await h.signal(abortSignal, { reason: 'stuck check test', by: 'test' });
        latencies.push((await stableSeen(router, agent)) - t0);
        const result = await h.result();
        assert.equal(result.state, 'aborted');
        if (i === 0) await saveHistory('v2-aborted-during-stuck-check', h);
      }
    });
    const p50 = quantile(latencies, 0.5);
    const max = Math.max(...latencies);
    console.log(`      abort-to-stable with a dead metrics source: p50 ${p50} ms, max ${max} ms (n=10)`);
    // Target 1 s; the bound leaves room for a loaded CI machine, the old code took 35 s.
    assert.ok(max < 5_000, `max ${max} ms`);
  });

  it('an abort by Update (and by cancellation) does not wait for the stuck check either', async () => {
    const { deps, router, metrics } = fakeDeps();
    await withWorker(deps, async () => {
      for (const how of ['update', 'cancel'] as const) {
        const agent = uniqueName(`stuck-${how}`);
        metrics.set(agent, { hang: true });
        const h = await start(testPlan(agent), workflowIdFor(agent));
        await eventually(
          () => metrics.queries.filter((q) => q.agent === agent).length,
          (n) => n >= 1,
          { what: 'a check waiting on metrics', intervalMs: 10 },
        );
        const t0 = Date.now();
        if (how === 'update') {
          const s = await h.executeUpdate(abortUpdate, { args: [{ reason: 'stuck check', by: 'test' }] });
          assert.equal(s.state, 'aborted');
        } else {
          await h.cancel();
        }
        const took = (await stableSeen(router, agent)) - t0;
        console.log(`      abort by ${how} with a stuck check: stable in ${took} ms`);
        // Target 1 s, measured well under 0.1 s; waiting for the check would take its 4 s budget.
        assert.ok(took < 2_500, `${took} ms`);
        await h.result().catch(() => undefined);
      }
    });
  });

  it('with the router down, an abort is the write that retries, and lands within a second of its return', async () => {
    const { deps, router, metrics } = fakeDeps();
    const agent = uniqueName('router-down');
    metrics.set(agent, { rps: 200 });
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent), workflowIdFor(agent));
      await until(h, (s) => s.canaryPercent === 10, 'stage 1 in place');
      router.down = true;
      await h.signal(abortSignal, { reason: 'router down test', by: 'test' });
      // Status says what the rollout is waiting for, at once.
      const waiting = await until(h, (s) => s.ending?.state === 'aborted', 'the abort under way');
      assert.equal(waiting.state, 'progressing');
      assert.match(waiting.applying?.what ?? '', /abort: v1 100%/);
      await new Promise((r) => setTimeout(r, 10_000));
      const withError = await status(h);
      assert.match(withError.applying?.lastError ?? '', /ECONNREFUSED/, JSON.stringify(withError.applying));
      const back = Date.now();
      router.down = false;
      const landed = (await stableSeen(router, agent)) - back;
      console.log(`      router down 10 s: stable 100% ${landed} ms after it came back`);
      assert.ok(landed < 5_000, `${landed} ms`);
      assert.equal((await h.result()).state, 'aborted');
    });
  });

  it('a metrics configuration error withdraws the canary at once and fails with the cause', async () => {
    const { deps, router, metrics, notifier } = fakeDeps();
    const agent = uniqueName('metrics-401');
    metrics.set(agent, { refuse: true });
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent), workflowIdFor(agent));
      const err = await h.result().then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError, String(err));
      assert.match(String(err.cause?.message), /metrics source refused the query: HTTP 401 wrong token/);
      assert.equal(router.canaryWeight(agent), 0);
      assert.equal(router.splits.get(agent)?.stable, 'v1');
      const s = await status(h);
      assert.equal(s.state, 'rolled_back');
      assert.ok(s.failedChecks === 0, 'a configuration error is not a failed check of the canary');
      const sent = notifier.events.find((e) => e.type === 'rolled_back');
      assert.match(sent?.reason ?? '', /configuration error, canary withdrawn: .*401/);
    });
  });

  it('a router that does not know the agent fails the rollout with its words, not "activity failed"', async () => {
    const { deps, router } = fakeDeps();
    const agent = uniqueName('unknown-agent');
    router.unknownAgents.add(agent);
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent), workflowIdFor(agent));
      const err = await h.result().then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError);
      assert.equal(err.cause?.message, `the router refused the split: HTTP 404 unknown agent "${agent}"`);
    });
  });

  it('a metrics outage is recorded at that check as not evidence, and its time is not observed', async () => {
    const { deps, metrics } = fakeDeps();
    const agent = uniqueName('metrics-503');
    metrics.set(agent, { rps: 200 });
    await withWorker(deps, async () => {
      const h = await start(testPlan(agent), workflowIdFor(agent));
      await until(h, (s) => (s.lastAnalysis?.verdict ?? '') !== '' && s.observedMs > 0, 'a check with data');
      metrics.set(agent, { outage: true });
      const out = await until(
        h,
        (s) => /metrics unavailable/.test(s.lastAnalysis?.reason ?? ''),
        'the outage',
      );
      assert.match(out.lastAnalysis!.reason, /not evidence/);
      assert.equal(out.observing, false);
      const frozen = out.observedMs;
      await new Promise((r) => setTimeout(r, 1_000));
      const later = await status(h);
      assert.equal(later.observedMs, frozen, 'no observation time without metrics');
      metrics.set(agent, { outage: false });
      await until(h, (s) => s.observing === true && s.observedMs > frozen, 'observation again');
      await h.signal(abortSignal, { reason: 'done', by: 'test' });
      await h.result();
    });
  });

  it('checks its own input: a bad plan from any client fails at once, naming the field', async () => {
    const agent = uniqueName('bad-input');
    const h = await start({ agent, stable: 'v1', canary: 'v2', stages: [] }, workflowIdFor(agent));
    await withWorker(fakeDeps().deps, async () => {
      const err = await h.result().then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(String(err.cause?.message), /invalid plan:\n\s+- stages: /);
    });
  });

  it('takes a plan as a team writes it, defaults applied inside the workflow', async () => {
    const { deps, router, metrics } = fakeDeps();
    const agent = uniqueName('plain-plan');
    metrics.set(agent, { rps: 200 });
    await withWorker(deps, async () => {
      const h = await start(
        { agent, stable: 'v1', canary: 'v2', stages: [{ weight: 20, observe: '1m' }, { weight: 100 }] },
        workflowIdFor(agent),
      );
      const s = await until(h, (x) => x.canaryPercent === 20, 'stage 1 at 20%');
      assert.equal(s.failureLimit, 1, 'the statistical judge default');
      assert.equal(router.canaryWeight(agent), 20);
      await h.signal(abortSignal, { reason: 'done', by: 'test' });
      await h.result();
    });
  });
});

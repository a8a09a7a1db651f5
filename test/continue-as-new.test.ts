// A long rollout stays under the history size Temporal suggests: the workflow continues as new when
// the server says so, mid-stage, with a check waiting in its activity, and nothing of the rollout is
// lost or late. The server's suggestion (4,096 events by default; a default plan at 10 s checks for
// 6 h makes about 13,000) is lowered so that a few seconds of checks cross it several times. New
// runs also continue as new on their own after RUN_EVENT_LIMIT events (patch bounded-runs).
import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { resolvePlan } from '../src/plan';
import { startDevServer, type DevServer } from '../src/temporal/devserver';
import { createWorker } from '../src/temporal/worker';
import {
  TASK_QUEUE,
  WORKFLOW_TYPE,
  statusQuery,
  workflowIdFor,
  type RolloutResult,
} from '../workflows/messages';
import { fakeDeps } from './fakes';
import { startWorker, testEnv, uniqueName } from './harness';
import { BASELINE_RUN_EVENT_LIMIT, RUN_EVENT_LIMIT, staggeredEventLimit } from '../workflows/rollout';
import { saveHistory } from './support/histories';

const SUGGEST_AFTER_EVENTS = 100;

describe('a run’s drawn history bound (staggered-runs)', () => {
  for (const limit of [RUN_EVENT_LIMIT, BASELINE_RUN_EVENT_LIMIT]) {
    it(`spreads over the upper half of ${limit} events, both ends included`, () => {
      const low = Math.ceil(limit / 2);
      assert.equal(staggeredEventLimit(0, limit), low);
      assert.equal(staggeredEventLimit(0.999999, limit), limit);
      // 1,000 rollouts' bounds (as the workflow's random draws them) cover the range, none outside.
      const bounds = Array.from({ length: 1000 }, (_, i) => staggeredEventLimit((i + 0.5) / 1000, limit));
      assert.ok(bounds.every((b) => Number.isInteger(b) && b >= low && b <= limit));
      assert.equal(new Set(bounds).size, limit - low + 1);
    });
  }
});

describe('continue-as-new at the server’s suggestion', function () {
  this.timeout(120_000);
  let server: DevServer;
  let connection: Connection;
  let client: Client;
  let native: NativeConnection;

  before(async function () {
    server = await startDevServer({
      ui: false,
      log: () => {},
      dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': SUGGEST_AFTER_EVENTS },
    });
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection, namespace: server.namespace });
    native = await NativeConnection.connect({ address: server.address });
  });

  after(async function () {
    await native?.close();
    await connection?.close();
    await server?.stop();
  });

  it('keeps every run under the suggested history, carries the rollout across runs, and keeps checks on time', async function () {
    const agent = uniqueName('long');
    const { deps, metrics } = fakeDeps();
    metrics.set(agent, { rps: 300 });
    const worker = await createWorker({
      connection: native,
      namespace: server.namespace,
      deps,
      workflowBundle: testEnv().workflowBundle,
      shutdownGraceTime: '1s',
    });
    const running = worker.run();
    try {
      const intervalMs = 250;
      const plan = resolvePlan({
        agent,
        stable: 'v1',
        canary: 'v2',
        stages: [{ weight: 5, observe: '6s' }, { weight: 50, observe: '6s' }, { weight: 100 }],
        analysis: { interval: `${intervalMs}ms`, judge: 'thresholds', minSamples: 20 },
        leaseTtl: '10s',
      });
      const h = await client.workflow.start(WORKFLOW_TYPE, {
        args: [plan],
        taskQueue: TASK_QUEUE,
        workflowId: workflowIdFor(agent),
      });
      const result = (await client.workflow.getHandle(workflowIdFor(agent)).result()) as RolloutResult;
      assert.equal(result.state, 'promoted');

      // Every run of the chain, oldest first.
      type Check = { since: number; due: number; done: number };
      const runs: { runId: string; events: number; checks: Check[] }[] = [];
      const ids: string[] = [];
      for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowIdFor(agent)}'` })) {
        ids.push(w.runId);
      }
      for (const runId of ids) {
        const history = await client.workflow.getHandle(workflowIdFor(agent), runId).fetchHistory();
        const events = history.events ?? [];
        const due = new Map<string, { since: number; at: number }>();
        const checks: Check[] = [];
        for (const e of events) {
          const scheduled = e.activityTaskScheduledEventAttributes;
          if (scheduled?.activityType?.name === 'checkCanary') {
            const input = JSON.parse(Buffer.from(scheduled.input!.payloads![0].data!).toString()) as {
              since: number;
              at?: number;
            };
            assert.equal(typeof input.at, 'number', 'new rollouts hand each check its due time');
            due.set(String(e.eventId), { since: input.since, at: input.at! });
          }
          const done = e.activityTaskCompletedEventAttributes;
          if (done && due.has(String(done.scheduledEventId))) {
            const t = Number(e.eventTime!.seconds) * 1000 + Math.floor(Number(e.eventTime!.nanos ?? 0) / 1e6);
            const d = due.get(String(done.scheduledEventId))!;
            checks.push({ since: d.since, due: d.at, done: t });
          }
        }
        runs.push({ runId, events: events.length, checks });
      }
      runs.sort((a, b) => (a.checks[0]?.due ?? 0) - (b.checks[0]?.due ?? 0));
      // The shape of new rollouts (deferred checks) across a continue-as-new, replayed in CI.
      await saveHistory(
        'v3-deferred-continued',
        client.workflow.getHandle(workflowIdFor(agent), runs[0].runId),
      );
      await saveHistory(
        'v3-deferred-promoted',
        client.workflow.getHandle(workflowIdFor(agent), runs.at(-1)!.runId),
      );
      assert.ok(runs.length >= 2, `the rollout crossed the suggestion (${runs.length} runs)`);
      for (const r of runs) {
        // The workflow acts at the first safe point after the suggestion: within one check's events.
        assert.ok(
          r.events <= SUGGEST_AFTER_EVENTS + 12,
          `run ${r.runId} has ${r.events} events, above the suggested ${SUGGEST_AFTER_EVENTS}`,
        );
      }
      // Checks go on across runs on the stage's cadence: a continue-as-new loses no check and
      // moves none (a slot may be skipped only when a check ran a whole interval late).
      const all = runs.flatMap((r) => r.checks).sort((a, b) => a.due - b.due);
      const eventsPerCheck = runs.reduce((n, r) => n + r.events, 0) / all.length;
      const late = all.map((c) => c.done - c.due).sort((a, b) => a - b);
      process.stdout.write(
        `      ${runs.length} runs, ${all.length} checks, ${eventsPerCheck.toFixed(1)} events per check, ` +
          `done after due p50 ${late[Math.floor(late.length / 2)]} ms, max ${late.at(-1)} ms\n`,
      );
      for (const since of new Set(all.map((c) => c.since))) {
        const stage = all.filter((c) => c.since === since);
        // How many slots a busy machine lets the checks keep is bench:scale's to measure; here a
        // skipped slot must come from a late check, not from a continue-as-new losing one.
        assert.ok(stage.length >= 8, `a 6 s stage at 250 ms had ${stage.length} checks`);
        for (let i = 1; i < stage.length; i++) {
          const gap = stage[i].due - stage[i - 1].due;
          const lateBefore = Math.max(0, stage[i - 1].done - stage[i - 1].due);
          assert.ok(
            gap > 0 && gap <= 2 * intervalMs + lateBefore + 2_000,
            `two checks ${gap} ms apart (cadence ${intervalMs} ms, the one before done ${lateBefore} ms late)`,
          );
          assert.equal(
            (stage[i].due - since) % intervalMs === 0 || i === stage.length - 1,
            true,
            `check due ${stage[i].due - since} ms into the stage, off the ${intervalMs} ms grid`,
          );
        }
      }
      assert.ok(late.at(-1)! < 15_000, `a check was done ${late.at(-1)} ms after it was due`);
      const s = await h.query(statusQuery);
      assert.equal(s.decisions[0].action, 'started', 'decisions of the first run are still there');
      assert.equal(s.decisions.filter((d) => d.action === 'stage_started').length, 2);
    } finally {
      worker.shutdown();
      await running;
    }
  });
});

describe('continue-as-new within a bounded history (patch bounded-runs)', function () {
  this.timeout(120_000);

  it('starts a new run every RUN_EVENT_LIMIT events without being told, and the rollout goes on', async () => {
    const agent = uniqueName('bounded');
    const { deps, metrics } = fakeDeps();
    metrics.set(agent, { rps: 300 });
    const env = testEnv();
    const taskQueue = uniqueName('bounded');
    const w = await startWorker(deps, { taskQueue });
    try {
      // About 7 events a check: a 6 s stage at 100 ms crosses the bound a few times.
      const plan = resolvePlan({
        agent,
        stable: 'v1',
        canary: 'v2',
        stages: [{ weight: 10, observe: '6s' }, { weight: 100 }],
        analysis: { interval: '100ms', judge: 'thresholds', minSamples: 20 },
        leaseTtl: '10s',
      });
      // No continueAsNewAfterEvents, and the server's suggestion at its default (4,096 events).
      await env.client.workflow.start(WORKFLOW_TYPE, {
        args: [plan],
        taskQueue,
        workflowId: workflowIdFor(agent),
      });
      const result = (await env.client.workflow.getHandle(workflowIdFor(agent)).result()) as RolloutResult;
      assert.equal(result.state, 'promoted');
      const runs: { runId: string; events: number; continued: boolean; markers: number }[] = [];
      for await (const x of env.client.workflow.list({ query: `WorkflowId = '${workflowIdFor(agent)}'` })) {
        const events =
          (await env.client.workflow.getHandle(workflowIdFor(agent), x.runId).fetchHistory()).events ?? [];
        runs.push({
          runId: x.runId,
          events: events.length,
          continued: events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes != null,
          markers: events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch').length,
        });
      }
      // baseline-v12: one patch marker a run, new or continued, not one per patch (nine, or three).
      assert.deepEqual(
        runs.map((r) => r.markers),
        runs.map(() => 1),
      );
      assert.ok(runs.length >= 2, `a 6 s stage of 100 ms checks stayed in ${runs.length} run`);
      for (const r of runs) {
        // Runs started since code version 12 draw their bound from the upper half of 100 events
        // (baseline-v12, staggered-runs), never sooner.
        assert.ok(r.events <= BASELINE_RUN_EVENT_LIMIT + 12, `run ${r.runId} has ${r.events} events`);
        if (r.continued) {
          assert.ok(r.events >= BASELINE_RUN_EVENT_LIMIT / 2, `run ${r.runId} has ${r.events} events`);
        }
      }
      const first = runs.find((r) => r.continued)!;
      await saveHistory(
        'v12-baseline-continued',
        env.client.workflow.getHandle(workflowIdFor(agent), first.runId),
      );
    } finally {
      await w.stop();
    }
  });
});

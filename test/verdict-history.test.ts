// One verdict per check (issue 22): the check activity judges the rollout, with the evidence the
// workflow carried from the earlier stages, and the workflow acts on exactly that verdict. Read back
// from a real rollout's history on the dev server: what each check recorded, what the next check was
// handed, and what the rollout did.
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { resolvePlan } from '../src/plan';
import type { Verdict } from '../src/analysis/types';
import { payloadDecoder, readRolloutHistory } from '../src/ui/history';
import { TASK_QUEUE, WORKFLOW_TYPE, statusQuery, workflowIdFor } from '../workflows/messages';
import { BROKEN, fakeDeps } from './fakes';
import { eventually, testEnv, uniqueName, withWorker } from './harness';
import { saveHistory } from './support/histories';

interface Recorded {
  name: string;
  input: Record<string, unknown>;
  result: Record<string, unknown>;
}

/** The rollout's runs, oldest first (a run continues as new every 150 events). */
async function runIds(workflowId: string): Promise<string[]> {
  const { client } = testEnv();
  const ids: string[] = [];
  let runId: string | undefined = (await client.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    ids.unshift(runId);
    const history: Awaited<ReturnType<WorkflowHandle['fetchHistory']>> = await client.workflow
      .getHandle(workflowId, runId)
      .fetchHistory();
    runId =
      history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return ids;
}

/** Every completed activity of the rollout, with its input and result as history holds them. */
async function activities(workflowId: string): Promise<Recorded[]> {
  const out: Recorded[] = [];
  for (const runId of await runIds(workflowId)) out.push(...(await runActivities(workflowId, runId)));
  return out;
}

async function runActivities(workflowId: string, runId: string): Promise<Recorded[]> {
  const { client } = testEnv();
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const decode = payloadDecoder(client.options.loadedDataConverter);
  const scheduled = new Map<string, { name: string; input: Record<string, unknown> }>();
  const out: Recorded[] = [];
  for (const e of (history.events ?? []) as temporal.api.history.v1.IHistoryEvent[]) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      const [input] = await decode(s.input?.payloads);
      scheduled.set(String(e.eventId), {
        name: s.activityType?.name ?? '',
        input: input as Record<string, unknown>,
      });
    }
    const c = e.activityTaskCompletedEventAttributes;
    if (c) {
      const task = scheduled.get(String(c.scheduledEventId))!;
      const [result] = await decode(c.result?.payloads);
      out.push({ ...task, result: (result ?? {}) as Record<string, unknown> });
    }
  }
  return out;
}

describe('one verdict per check, read from history', function () {
  this.timeout(90_000);

  it('the rollout acts on the verdict its check recorded, judged with the evidence it was handed', async () => {
    const { deps, metrics } = fakeDeps();
    const agent = uniqueName('verdict');
    const plan = resolvePlan({
      agent,
      stable: 'v1',
      canary: 'v2',
      stages: [{ weight: 20, observe: '2s' }, { weight: 50, observe: '20s' }, { weight: 100 }],
      analysis: { interval: '300ms', minSamples: 20, metrics: ['error_rate'] },
      leaseTtl: '30s',
      notify: [{ type: 'log' }],
    });
    const workflowId = workflowIdFor(agent);
    metrics.set(agent, {});
    await withWorker(deps, async () => {
      const h = await testEnv().client.workflow.start(WORKFLOW_TYPE, {
        args: [plan],
        taskQueue: TASK_QUEUE,
        workflowId,
      });
      // Healthy through stage 1; broken once stage 2's split is in place.
      await eventually(
        () => h.query(statusQuery),
        (st) => st.stageIndex >= 1 || st.state !== 'progressing',
        { what: 'stage 2', timeoutMs: 30_000 },
      );
      metrics.set(agent, { canary: BROKEN });
      const result = await h.result();
      assert.equal(result.state, 'rolled_back', result.reason);
      // Recorded again on each code version that changes the judge, under its own name (code version
      // 10, patch judge-v6); the earlier ones (v8-rollout-verdict-recorded, v8-judge-v5-rolled-back)
      // stay in the replay set as they are.
      const [first] = await runIds(workflowId);
      await saveHistory('v10-judge-v6-rolled-back', testEnv().client.workflow.getHandle(workflowId, first));
    });

    const recorded = await activities(workflowId);
    const checks = recorded.filter((a) => a.name === 'checkCanary' && a.result.metrics === 'ok');
    const inStage = (weight: number) =>
      checks.filter((c) => (c.input.lease as { canaryWeight: number }).canaryWeight === weight);
    const first = inStage(20);
    const second = inStage(50);
    assert.ok(
      first.length > 0 && second.length > 0,
      `checks in both stages (${first.length}, ${second.length})`,
    );

    // Every check was asked for the rollout's verdict and recorded it beside the stage's.
    for (const c of checks) {
      const rollout = c.result.rollout as { verdict: Verdict; evidence: Record<string, unknown> };
      assert.ok(rollout?.verdict, 'the rollout verdict is recorded');
      assert.ok(rollout.evidence.error_rate, 'with the summed evidence');
    }
    // Stage 1 starts with no evidence and must rule out 2x minEffect; stage 2 is handed what stage
    // 1's last check recorded and must rule out minEffect itself.
    assert.deepEqual(first[0].input.rollout, { passAt: 2 });
    const handed = second[0].input.rollout as { carried: unknown; passAt: number };
    assert.equal(handed.passAt, 1);
    assert.deepEqual(handed.carried, (first.at(-1)!.result.rollout as { evidence: unknown }).evidence);
    assert.equal((first.at(-1)!.result.rollout as { verdict: Verdict }).verdict.verdict, 'pass');

    // The rollback acted on the last check's recorded rollout verdict (the rollout's evidence), and
    // not on the stage's own verdict, which is in history too.
    const last = second.at(-1)!;
    const acted = (last.result.rollout as { verdict: Verdict }).verdict;
    assert.equal(acted.verdict, 'fail');
    const told = recorded.find(
      (a) => a.name === 'notify' && (a.input.event as { type: string }).type === 'rolled_back',
    );
    assert.ok(told, 'the rollback was notified');
    const toldVerdict = (told.input.event as { verdict: Verdict }).verdict;
    assert.deepEqual(toldVerdict, acted);
    assert.notDeepEqual(toldVerdict, last.result.verdict);
    assert.match(acted.metrics[0].stats?.detail ?? '', /rollout so far/);

    // The dashboard's history shows the recorded verdicts, as acted on.
    const { client } = testEnv();
    const runId = (await client.workflow.getHandle(workflowId).describe()).runId;
    const seen = await readRolloutHistory(client, workflowId, runId);
    assert.equal(seen.checks.length, checks.length);
    seen.checks.forEach((c, i) => {
      const v = (checks[i].result.rollout as { verdict: Verdict }).verdict;
      assert.equal(c.verdict, v.verdict);
      assert.equal(c.reason, v.reason);
    });
  });
});

// extend, dismiss, analysis.onFail and retry on the real dev server: each command by Update (the
// client API the CLI uses) and by Signal (the Web UI, other clients), refusals with their messages,
// and what the workflow recorded (who, why) in its decisions. One CLI run checks the verbs' wiring.
import assert from 'node:assert/strict';
import type { MetricsQuery, MetricsSource } from '../src/metrics/types';
import { resolvePlan, type PlanInput, type ResolvedPlan } from '../src/plan';
import { CommandRefusedError } from '../src/temporal/errors';
import {
  CommandInputError,
  getStatus,
  retryRollout,
  sendCommand,
  startRollout,
} from '../src/temporal/rollouts';
import {
  TASK_QUEUE,
  WORKFLOW_TYPE,
  dismissSignal,
  extendSignal,
  statusQuery,
  workflowIdFor,
  type Decision,
  type RolloutStatus,
} from '../workflows/messages';
import { cli } from './cli-support';
import { BROKEN, HEALTHY, fakeDeps } from './fakes';
import { eventually, testEnv, uniqueName, withWorker } from './harness';
import { saveHistory } from './support/histories';

function testPlan(agent: string, overrides: Partial<PlanInput> = {}): ResolvedPlan {
  return resolvePlan({
    agent,
    stable: 'v1',
    canary: 'v2',
    stages: [{ weight: 10, observe: '10m' }, { weight: 100 }],
    analysis: { interval: '300ms', minSamples: 20, judge: 'thresholds', failureLimit: 1 },
    leaseTtl: '30s',
    progressDeadline: '1h',
    ...overrides,
  });
}

const status = (agent: string) =>
  testEnv().client.workflow.getHandle(workflowIdFor(agent)).query(statusQuery);
const until = (agent: string, pred: (s: RolloutStatus) => boolean, what: string) =>
  eventually(() => status(agent), pred, { what, timeoutMs: 20_000, intervalMs: 50 });
const lastOf = (s: RolloutStatus, action: Decision['action']) =>
  s.decisions.filter((d) => d.action === action).at(-1);

/** Refused with CommandRefusedError whose message matches. */
async function refused(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    assert.ok(err instanceof CommandRefusedError, `${err.name}: ${err.message}`);
    assert.match(err.message, message);
    return true;
  });
}

/**
 * A canary that fails its next `failing` checks, then is healthy: the failure is in place before the
 * check reads it, so no test races the check interval to change the metrics in between.
 */
function failingFor(agent: string, failing: number) {
  const fakes = fakeDeps();
  fakes.metrics.set(agent, { rps: 200, canary: BROKEN });
  let left = failing;
  const metrics: MetricsSource = {
    fetch: async (q: MetricsQuery) => {
      const w = await fakes.metrics.fetch(q);
      if (q.agent === agent && --left <= 0) fakes.metrics.set(agent, { canary: HEALTHY });
      return w;
    },
  };
  return { ...fakes, deps: { ...fakes.deps, metrics } };
}

describe('more commands: extend, dismiss, pause on fail, retry', function () {
  this.timeout(120_000);

  it('extend by Update and by Signal adds to the stage window, bounded by the progress deadline', async () => {
    const { deps, metrics } = fakeDeps();
    const agent = uniqueName('extend');
    metrics.set(agent, { rps: 200 });
    const { client } = testEnv();
    await withWorker(deps, async () => {
      await startRollout(client, testPlan(agent));
      await until(agent, (s) => s.canaryPercent === 10, 'stage 1 in place');
      const s = await sendCommand(client, agent, 'extend', {
        duration: '30m',
        by: 'ana',
        reason: 'quiet hour',
      });
      assert.equal(s.extendedMs, 30 * 60_000);
      assert.ok(s.remainingMs > 39 * 60_000, `window is 10m + 30m, ${s.remainingMs} ms to go`);
      const d = lastOf(s, 'extended');
      assert.equal(d?.by, 'ana');
      assert.match(d!.reason, /^quiet hour: \+30m, stage window now 40m$/);

      await client.workflow
        .getHandle(workflowIdFor(agent))
        .signal(extendSignal, { duration: 600_000, by: 'bob', reason: 'by signal' });
      const after = await until(agent, (x) => x.extendedMs === 40 * 60_000, 'the signal taken');
      assert.equal(lastOf(after, 'extended')?.by, 'bob');

      // 10m + 40m observed at most within a 1h deadline: another 15m would run past it.
      await refused(
        sendCommand(client, agent, 'extend', { duration: '15m', by: 'ana' }),
        /extend refused for ".*": the stage would need 1h[\dms]* more, past the progress deadline/,
      );
      await assert.rejects(
        sendCommand(client, agent, 'extend', { duration: 'soon' }),
        (err: Error) => err instanceof CommandInputError && /duration/.test(err.message),
      );
      await sendCommand(client, agent, 'abort', { reason: 'done', by: 'test' });
      await saveHistory('v2-extended', client.workflow.getHandle(workflowIdFor(agent)));
    });
  });

  it('dismiss by Update is refused with nothing failed; after a pause on fail it continues to promotion', async () => {
    const agent = uniqueName('dismiss-update');
    const { deps, router } = failingFor(agent, 1);
    const { client } = testEnv();
    const plan = testPlan(agent, {
      stages: [{ weight: 10, observe: '2s' }, { weight: 100 }],
      analysis: {
        interval: '300ms',
        minSamples: 20,
        judge: 'thresholds',
        failureLimit: 1,
        onFail: { default: 'pause' },
      },
    });
    await withWorker(deps, async () => {
      const started = await startRollout(client, plan);
      const paused = await until(agent, (s) => !!s.pausedOnFail, 'paused on the failed check');
      assert.equal(paused.state, 'paused');
      assert.equal(paused.canaryPercent, 10, 'the canary keeps its share while paused on fail');
      assert.equal(lastOf(paused, 'paused_on_fail')?.percent, 10);
      assert.ok(paused.pausedOnFail!.metrics.includes('error_rate'));
      await refused(
        sendCommand(client, agent, 'resume', { by: 'ana' }),
        /paused on a failed check: `dismiss` clears the failure/,
      );
      const s = await sendCommand(client, agent, 'dismiss', { by: 'ana', reason: 'known blip' });
      assert.equal(s.state, 'progressing');
      assert.equal(s.pausedOnFail, undefined);
      assert.equal(s.failedChecks, 0);
      const d = lastOf(s, 'dismissed');
      assert.equal(d?.by, 'ana');
      assert.match(d!.reason, /^known blip \(1 failed check cleared, pause on failure lifted/);
      const result = await started.result();
      assert.equal(result.state, 'promoted');
      assert.equal(router.splits.get(agent)?.stable, 'v2');
      await saveHistory('v2-paused-on-fail-dismissed', client.workflow.getHandle(workflowIdFor(agent)));
      await refused(
        sendCommand(client, agent, 'dismiss', {}),
        /already ended \(promoted\); there is nothing to dismiss/,
      );
    });
    // Nothing failed: nothing to dismiss.
    const other = uniqueName('dismiss-nothing');
    const fakes = fakeDeps();
    fakes.metrics.set(other, { rps: 200 });
    await withWorker(fakes.deps, async () => {
      await startRollout(client, testPlan(other));
      await until(other, (s) => s.canaryPercent === 10, 'stage 1 in place');
      await refused(
        sendCommand(client, other, 'dismiss', { by: 'ana' }),
        /dismiss refused for ".*": there is nothing to dismiss: no check failed in this stage/,
      );
      await sendCommand(client, other, 'abort', { reason: 'done' });
    });
  });

  it('dismiss by Signal lifts a pause on fail, recorded with who and why', async () => {
    const agent = uniqueName('dismiss-signal');
    const { deps } = failingFor(agent, 1);
    const { client } = testEnv();
    const plan = testPlan(agent, {
      analysis: {
        interval: '300ms',
        minSamples: 20,
        judge: 'thresholds',
        failureLimit: 1,
        onFail: {
          error_rate: 'pause',
          p99_latency_ms: 'pause',
          task_success_rate: 'pause',
          quality_score: 'pause',
        },
      },
    });
    await withWorker(deps, async () => {
      await startRollout(client, plan);
      await until(agent, (s) => !!s.pausedOnFail, 'paused on the failed check');
      await client.workflow
        .getHandle(workflowIdFor(agent))
        .signal(dismissSignal, { by: 'bob', reason: 'looked at the traces' });
      const s = await until(agent, (x) => x.state === 'progressing', 'progressing after the dismiss');
      const d = lastOf(s, 'dismissed');
      assert.equal(d?.by, 'bob');
      assert.match(d!.reason, /^looked at the traces/);
      await sendCommand(client, agent, 'abort', { reason: 'done' });
    });
  });

  it('onFail pause: a clearly worse canary while paused rolls back (beyond its absolute limit)', async () => {
    const { deps, metrics, router } = fakeDeps();
    const agent = uniqueName('pause-then-fail');
    metrics.set(agent, { rps: 200, canary: BROKEN });
    const { client } = testEnv();
    const plan = testPlan(agent, {
      analysis: { interval: '300ms', minSamples: 20, judge: 'thresholds', onFail: { default: 'pause' } },
    });
    await withWorker(deps, async () => {
      const started = await startRollout(client, plan);
      const result = await started.result();
      assert.equal(result.state, 'rolled_back');
      // Gates (docs/gates.md): a held pause rolls back only on a clear worsening; 30% errors is
      // beyond error_rate's absolute limit of 5%.
      assert.match(result.reason, /absolute guardrail breached while paused/);
      assert.equal(router.canaryWeight(agent), 0);
      const s = await getStatus(client, agent);
      const actions = s.decisions.map((d) => d.action);
      const paused = actions.indexOf('paused_on_fail');
      assert.ok(paused > 0, actions.join(', '));
      assert.deepEqual(actions.slice(paused), ['paused_on_fail', 'rolled_back']);
    });
  });

  it('retry starts an aborted rollout again from its plan (as written), refused while running or once promoted', async () => {
    const { deps, metrics } = fakeDeps();
    const agent = uniqueName('retry');
    metrics.set(agent, { rps: 200 });
    const { client } = testEnv();
    // Started by another client with the plan as a team writes it: retry reads it from history.
    const written = {
      agent,
      stable: 'v1',
      canary: 'v2',
      stages: [{ weight: 20, observe: '10m' }, { weight: 100 }],
      analysis: { interval: '300ms', judge: 'thresholds', minSamples: 20 },
      leaseTtl: '30s',
    };
    await withWorker(deps, async () => {
      const first = await client.workflow.start(WORKFLOW_TYPE, {
        args: [written],
        taskQueue: TASK_QUEUE,
        workflowId: workflowIdFor(agent),
      });
      await until(agent, (s) => s.canaryPercent === 20, 'stage 1 in place');
      await refused(
        retryRollout(client, agent, { by: 'ana' }),
        /is still running \(progressing\); there is nothing to retry/,
      );
      await sendCommand(client, agent, 'abort', { reason: 'bad answers', by: 'ana' });
      assert.equal((await first.result()).state, 'aborted');

      const again = await retryRollout(client, agent, { by: 'ana', reason: 'prompt fixed' });
      assert.equal(again.workflowId, workflowIdFor(agent));
      assert.equal(again.previousRunId, first.firstExecutionRunId);
      assert.notEqual(again.runId, first.firstExecutionRunId);
      const s = await until(agent, (x) => x.canaryPercent === 20, 'the retried run at stage 1');
      assert.equal(s.stageCount, 2);
      assert.deepEqual(
        { action: s.decisions[0].action, by: s.decisions[0].by, reason: s.decisions[0].reason },
        { action: 'started', by: 'ana', reason: `retry of run ${first.firstExecutionRunId}: prompt fixed` },
      );
      await sendCommand(client, agent, 'promote', { full: true, by: 'ana' });
      assert.equal((await again.result()).state, 'promoted');
      await saveHistory('v2-retried', client.workflow.getHandle(workflowIdFor(agent), again.runId));
      await refused(retryRollout(client, agent, { by: 'ana' }), /was promoted: v2 is stable now/);
    });
  });

  it('the CLI: extend --by, dismiss refused, retry refused, all listed in help', async () => {
    const { deps, metrics } = fakeDeps();
    const agent = uniqueName('cli-more');
    metrics.set(agent, { rps: 200 });
    const { client, address, namespace } = testEnv();
    const env = { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace };
    const help = await cli(['--help']);
    for (const verb of ['extend', 'dismiss', 'retry']) assert.match(help.stdout, new RegExp(`\\n  ${verb} `));
    await withWorker(deps, async () => {
      await startRollout(client, testPlan(agent));
      await until(agent, (s) => s.canaryPercent === 10, 'stage 1 in place');
      const ext = await cli(['extend', agent, '--by', '5m', '--reason', 'cli', '--actor', 'carla'], { env });
      assert.equal(ext.code, 0, ext.stderr);
      assert.match(ext.stdout, /^extended .*: now progressing, stage 1\/2, canary 10%, stage window 15m/);
      const bad = await cli(['extend', agent, '--by', 'forever'], { env });
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /duration/);
      const dismiss = await cli(['dismiss', agent], { env });
      assert.equal(dismiss.code, 1);
      assert.match(dismiss.stderr, /nothing to dismiss/);
      const retry = await cli(['retry', agent], { env });
      assert.equal(retry.code, 1);
      assert.match(retry.stderr, /still running/);
      const st = await cli(['status', agent], { env });
      assert.match(st.stdout, /observed .* of 15m \(extended by 5m\)/);
      assert.match(st.stdout, /extended .*by carla: cli: \+5m/);
      await sendCommand(client, agent, 'abort', { reason: 'done' });
    });
  });
});

// Done-when of the shadow stage (issue 25), on the dev server: the real gateway mirrors requests to
// the canary and its evaluator (the local one: OpenAI protocol through the `openai` SDK) judges the
// pairs blind in both orders; the workflow judges `preference` and acts on it.
import assert from 'node:assert/strict';
import { resolvePlan } from '../src/plan';
import { preflightRollout } from '../src/temporal/rollouts';
import { stageViews } from '../src/ui/data';
import { readRolloutHistory } from '../src/ui/history';
import {
  TASK_QUEUE,
  WORKFLOW_TYPE,
  abortSignal,
  statusQuery,
  workflowIdFor,
  type RolloutResult,
} from '../workflows/messages';
import { eventually, testEnv, uniqueName, withWorker } from './harness';
import { saveHistory } from './support/histories';
import {
  agentAnswering,
  closeEvaluatedAgent,
  gatewayDeps,
  rubricFor,
  startEvaluatedAgent,
  traffic,
  type EvaluatedAgent,
} from './support/evaluated-agent';

const POINTS = ['the answer is 42', 'checked twice', 'source: manual'];

/** Answers carrying `points` of the expected points, each answer worded a little apart. */
const answersWith = (points: number) =>
  agentAnswering((n) => `Answer #${n}: ${POINTS.slice(0, points).join('; ')}.`);

describe('shadow stage: rollouts judged on mirrored pairs', function () {
  this.timeout(90_000);
  let a: EvaluatedAgent;

  async function setUp(canaryPoints: number, pairs: 'tie' | 'hash' | 'first', allowed = true) {
    a = await startEvaluatedAgent({
      agent: uniqueName('shadow'),
      rubric: rubricFor('Correct, checked and sourced.', POINTS),
      stable: answersWith(3),
      canary: answersWith(canaryPoints),
      sample: 1e-9,
      evaluator: { pairs },
      extra: allowed ? { shadow: 'allowed' } : {},
    });
  }
  afterEach(() => closeEvaluatedAgent(a));

  const deps = () => gatewayDeps(a.gw);
  const plan = (observe: string) =>
    resolvePlan({
      agent: a.agent,
      stable: 'v1',
      canary: 'v2',
      stages: [{ shadow: 100, observe }, { weight: 50, observe: '30s' }, { weight: 100 }],
      analysis: {
        interval: '500ms',
        minSamples: 10,
        metrics: ['error_rate'],
        minEffect: { error_rate: 0.2, preference: 0.2 },
      },
      leaseTtl: '5s',
    });

  /** Preflight as `start` runs it, once the test's worker polls. */
  const preflight = (observe: string) =>
    eventually(
      () => preflightRollout(testEnv().client, plan(observe)),
      (r) => !r.problems.some((p) => p.startsWith('no worker polls')),
      { what: 'the worker to poll' },
    );

  async function rollout(
    observe: string,
    during: (id: string) => Promise<void>,
    seen: Set<string>,
    history?: string,
  ) {
    const stop = traffic(a.gw, a.agent, seen);
    try {
      return await withWorker(deps(), async () => {
        const { client } = testEnv();
        assert.deepEqual(await preflight(observe), { problems: [] });
        const handle = await client.workflow.start(WORKFLOW_TYPE, {
          args: [plan(observe)],
          taskQueue: TASK_QUEUE,
          workflowId: workflowIdFor(a.agent),
        });
        await during(handle.workflowId);
        const result = (await handle.result()) as RolloutResult;
        if (history) await saveHistory(history, handle);
        return { result, status: await handle.query(statusQuery) };
      });
    } finally {
      await stop();
    }
  }

  it('rolls back a canary the evaluator prefers less, in the shadow stage, with no user served by it', async () => {
    await setUp(1, 'tie');
    const seen = new Set<string>();
    const { result, status } = await rollout('60s', async () => {}, seen, 'v5-shadow-rolled-back');
    assert.equal(result.state, 'rolled_back', JSON.stringify(result));
    assert.equal(status.stageIndex, 0);
    const pref = status.lastAnalysis!.metrics.find((m) => m.metric === 'preference');
    assert.equal(pref?.status, 'fail', JSON.stringify(status.lastAnalysis));
    assert.match(pref!.reason, /worse than stable: canary preferred in 0 of \d+ decided pairs/);
    assert.ok(status.lastAnalysis!.shadow!.pairs.losses >= 10, JSON.stringify(status.lastAnalysis!.shadow));
    // No user request was answered by the canary, and the rollback left no mirroring behind.
    assert.deepEqual([...seen], ['v1']);
    const split = await deps().router.getSplit(a.agent);
    assert.deepEqual([split.canary, split.canaryWeight, split.shadow], [null, 0, undefined]);
    // The dashboard reads the same from the workflow's history: the shadow stage and its pairs.
    const { client } = testEnv();
    const { runId } = await client.workflow.getHandle(status.workflowId).describe();
    const history = await readRolloutHistory(client, status.workflowId, runId);
    const last = history.checks.at(-1)!;
    assert.deepEqual(last.shadow, status.lastAnalysis!.shadow);
    assert.equal(stageViews(history)[0].shadow, 100);
  });

  it('refuses at preflight a shadow stage for an agent whose gateway config does not allow it', async () => {
    await setUp(3, 'hash', false);
    const { problems } = await withWorker(deps(), () => preflight('2s'));
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], new RegExp(`set agents\\.${a.agent}\\.shadow: allowed in its config`));
  });

  it('moves a canary as good as the stable on to its first weighted stage', async () => {
    await setUp(3, 'hash');
    const seen = new Set<string>();
    const { result } = await rollout(
      '2s',
      async (id) => {
        const handle = testEnv().client.workflow.getHandle(id);
        const moved = await eventually(
          () => handle.query(statusQuery),
          (s) => s.stageIndex === 1 || s.state !== 'progressing',
          { what: 'the first weighted stage', timeoutMs: 60_000 },
        );
        assert.equal(moved.stageIndex, 1, JSON.stringify(moved.lastAnalysis));
        assert.equal(moved.state, 'progressing');
        assert.equal(moved.canaryPercent, 50);
        const stageStarted = moved.decisions.find((d) => d.action === 'stage_started' && d.percent === 50);
        assert.ok(stageStarted, JSON.stringify(moved.decisions));
        await handle.signal(abortSignal, { reason: 'test over', by: 'test' });
      },
      seen,
    );
    assert.equal(result.state, 'aborted');
  });

  it('an evaluator biased towards the first answer does not pass a worse canary', async () => {
    await setUp(1, 'first');
    const seen = new Set<string>();
    const { result } = await rollout(
      '2s',
      async (id) => {
        const handle = testEnv().client.workflow.getHandle(id);
        // Well past the window, with many pairs judged: every pair is a tie (A/B and B/A disagree).
        const s = await eventually(
          () => handle.query(statusQuery),
          (s) => (s.lastAnalysis?.shadow?.pairs.judged ?? 0) >= 40 && s.observedMs >= 2_000,
          { what: '40 pairs judged', timeoutMs: 60_000 },
        );
        assert.equal(s.stageIndex, 0, 'still in the shadow stage');
        assert.equal(s.canaryPercent, 0);
        const p = s.lastAnalysis!.shadow!.pairs;
        assert.equal(p.ties, p.judged, JSON.stringify(p));
        const pref = s.lastAnalysis!.metrics.find((m) => m.metric === 'preference')!;
        assert.equal(pref.status, 'inconclusive', pref.reason);
        await handle.signal(abortSignal, { reason: 'test over', by: 'test' });
      },
      seen,
    );
    assert.equal(result.state, 'aborted');
    assert.deepEqual([...seen], ['v1']);
  });
});

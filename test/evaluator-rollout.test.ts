// Rollouts judged on the online evaluator alone: no feedback is posted by anyone. The real gateway
// grades sampled answers through the local evaluator (OpenAI protocol, `openai` SDK client), the
// workflow runs on the dev server with the gateway as router and metrics source.
import assert from 'node:assert/strict';
import { startLocalEvaluator } from '../src/demo/evaluator';
import { resolvePlan } from '../src/plan';
import { readRolloutHistory } from '../src/ui/history';
import {
  TASK_QUEUE,
  WORKFLOW_TYPE,
  statusQuery,
  workflowIdFor,
  type RolloutResult,
} from '../workflows/messages';
import { eventually, testEnv, uniqueName, withWorker } from './harness';
import {
  agentAnswering,
  closeEvaluatedAgent,
  gatewayDeps,
  rubricFor,
  startEvaluatedAgent,
  traffic,
  type EvaluatedAgent,
} from './support/evaluated-agent';

const POINTS = ['the answer is 42', 'checked twice', 'source: manual', 'next step: none'];

/** Answers carrying `base` or `base + 1` of the expected points, alternately. */
const answersWith = (base: number) =>
  agentAnswering((n) => `Here you go: ${POINTS.slice(0, base + (n % 2)).join('; ')}.`);

describe('rollouts judged by the online evaluator (no feedback posted)', function () {
  this.timeout(120_000);
  let a: EvaluatedAgent;

  async function setUp(canaryPoints: number) {
    a = await startEvaluatedAgent({
      agent: uniqueName('evalroll'),
      rubric: rubricFor('Correct, checked, sourced and complete.', POINTS),
      stable: answersWith(3),
      canary: answersWith(canaryPoints),
      sample: 0.5,
    });
  }
  afterEach(() => closeEvaluatedAgent(a));

  const deps = () => gatewayDeps(a.gw);
  const plan = (observe: string) =>
    resolvePlan({
      agent: a.agent,
      stable: 'v1',
      canary: 'v2',
      stages: [{ weight: 50, observe }, { weight: 100 }],
      analysis: {
        interval: '500ms',
        minSamples: 15,
        metrics: ['quality_score', 'task_success_rate'],
        minEffect: { quality_score: 0.2, task_success_rate: 0.3 },
      },
      leaseTtl: '5s',
    });

  async function rollout(observe: string, during?: (id: string) => Promise<void>) {
    const stop = traffic(a.gw, a.agent);
    try {
      return await withWorker(deps(), async () => {
        const handle = await testEnv().client.workflow.start(WORKFLOW_TYPE, {
          args: [plan(observe)],
          taskQueue: TASK_QUEUE,
          workflowId: workflowIdFor(a.agent),
        });
        await during?.(handle.workflowId);
        const result = (await handle.result()) as RolloutResult;
        // A closed workflow answers queries from its history while a worker runs.
        return { result, status: await handle.query(statusQuery) };
      });
    } finally {
      await stop();
    }
  }

  it('rolls back a canary the evaluator grades worse, on quality_score', async () => {
    await setUp(1);
    const { result, status } = await rollout('20s');
    assert.equal(result.state, 'rolled_back', JSON.stringify(result));
    const quality = status.lastAnalysis?.metrics.find((m) => m.metric === 'quality_score');
    assert.equal(quality?.status, 'fail', JSON.stringify(status.lastAnalysis));
    assert.ok(status.lastAnalysis!.evaluator!.calls > 0);
    const split = await deps().router.getSplit(a.agent);
    assert.deepEqual([split.canary, split.canaryWeight], [null, 0]);
  });

  it('promotes a healthy canary; a killed evaluator is "no data" meanwhile, and it recovers', async () => {
    await setUp(3);
    const { result } = await rollout('4s', async (id) => {
      const handle = testEnv().client.workflow.getHandle(id);
      await eventually(
        () => handle.query(statusQuery),
        (s) => (s.lastAnalysis?.metrics.find((m) => m.metric === 'quality_score')?.canarySamples ?? 0) > 5,
        { what: 'scores for the canary', timeoutMs: 60_000 },
      );
      const port = a.evaluator.port;
      await a.evaluator.close();
      const down = await eventually(
        () => handle.query(statusQuery),
        (s) => s.lastAnalysis?.evaluator?.state === 'down',
        { what: 'status to say the evaluator is down', timeoutMs: 60_000 },
      );
      for (const metric of ['quality_score', 'task_success_rate']) {
        const m = down.lastAnalysis!.metrics.find((x) => x.metric === metric)!;
        assert.equal(m.status, 'nodata', JSON.stringify(m));
        assert.match(m.reason, /no data: evaluator http:\/\/127\.0\.0\.1:\d+\/… down since/);
      }
      assert.equal(down.state, 'progressing', 'no pass and no fail while the evaluator is down');
      // The dashboard reads the same from the workflow's history.
      const { runId } = await handle.describe();
      const checks = (await readRolloutHistory(testEnv().client, id, runId)).checks;
      assert.ok(
        checks.some((c) => c.evaluator?.state === 'down' && /down since/.test(c.evaluator.reason ?? '')),
        'a check on the dashboard says the evaluator is down',
      );
      a.evaluator = await startLocalEvaluator({ port });
    });
    assert.equal(result.state, 'promoted', JSON.stringify(result));
  });
});

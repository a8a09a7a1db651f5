// Rollouts judged on the online evaluator alone: no feedback is posted by anyone. The real gateway
// grades sampled answers through the local evaluator (OpenAI protocol, `openai` SDK client), the
// workflow runs on the dev server with the gateway as router and metrics source.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalEvaluator, type LocalEvaluator } from '../src/demo/evaluator';
import type { RunningGateway } from '../src/gateway';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { resolvePlan } from '../src/plan';
import { GatewayRouter } from '../src/router/gateway';
import { readRolloutHistory } from '../src/ui/history';
import {
  TASK_QUEUE,
  WORKFLOW_TYPE,
  statusQuery,
  workflowIdFor,
  type RolloutResult,
} from '../workflows/messages';
import { eventually, testEnv, uniqueName, withWorker } from './harness';
import { TOKEN, gateway, startUpstream, type Upstream } from './gateway-support';

const POINTS = ['the answer is 42', 'checked twice', 'source: manual', 'next step: none'];
const RUBRIC = `Correct, checked, sourced and complete.\n${POINTS.map((p) => `expect: ${p}`).join('\n')}`;

/** An agent whose answers carry `base` or `base + 1` of the expected points, alternately. */
function agentAnswering(base: number) {
  let n = 0;
  return (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const k = base + (n++ % 2);
      const content = `Here you go: ${POINTS.slice(0, k).join('; ')}.`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content } }] }));
    });
  };
}

/** Users calling the agent through the gateway until stopped; nobody posts feedback. */
function traffic(gw: RunningGateway, agent: string) {
  let stopped = false;
  const clients = Array.from({ length: 3 }, async (_, c) => {
    for (let i = 0; !stopped; i++) {
      const res = await fetch(`${gw.url}/v1/agents/${agent}/invoke/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-session-id': `u${c}-${i}` },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'What is the answer?' }] }),
      }).catch(() => undefined);
      await res?.text();
      await new Promise((r) => setTimeout(r, 10));
    }
  });
  return async () => {
    stopped = true;
    await Promise.all(clients);
  };
}

describe('rollouts judged by the online evaluator (no feedback posted)', function () {
  this.timeout(120_000);
  let evaluator: LocalEvaluator;
  let stable: Upstream;
  let canary: Upstream;
  let gw: RunningGateway;
  let agent: string;

  async function setUp(canaryPoints: number) {
    agent = uniqueName('evalroll');
    evaluator = await startLocalEvaluator();
    stable = await startUpstream('v1', agentAnswering(3));
    canary = await startUpstream('v2', agentAnswering(canaryPoints));
    gw = await gateway({
      config: {
        agents: {
          [agent]: {
            stable: 'v1',
            versions: { v1: stable.url, v2: canary.url },
            evaluate: {
              url: evaluator.url,
              model: 'local',
              rubric: RUBRIC,
              sample: 0.5,
              maxPerMinute: 100_000,
            },
          },
        },
      },
      leaseSweepMs: 200,
    });
  }
  afterEach(async () => {
    await gw?.close();
    await Promise.all([stable?.close(), canary?.close(), evaluator?.close()]);
  });

  const deps = () => ({
    router: new GatewayRouter({ url: gw.url, token: TOKEN }),
    metrics: new GatewayMetricsSource({ url: gw.url, token: TOKEN }),
    notifiers: () => [],
  });
  const plan = (observe: string) =>
    resolvePlan({
      agent,
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
    const stop = traffic(gw, agent);
    try {
      return await withWorker(deps(), async () => {
        const handle = await testEnv().client.workflow.start(WORKFLOW_TYPE, {
          args: [plan(observe)],
          taskQueue: TASK_QUEUE,
          workflowId: workflowIdFor(agent),
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
    const split = await deps().router.getSplit(agent);
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
      const port = evaluator.port;
      await evaluator.close();
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
      evaluator = await startLocalEvaluator({ port });
    });
    assert.equal(result.state, 'promoted', JSON.stringify(result));
  });
});

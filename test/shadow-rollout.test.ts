// Done-when of the shadow stage (issue 25), on the dev server: the real gateway mirrors requests to
// the canary and its evaluator (the local one: OpenAI protocol through the `openai` SDK) judges the
// pairs blind in both orders; the workflow judges `preference` and acts on it.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalEvaluator, type LocalEvaluator } from '../src/demo/evaluator';
import type { RunningGateway } from '../src/gateway';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { resolvePlan } from '../src/plan';
import { GatewayRouter } from '../src/router/gateway';
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
import { TOKEN, gateway, startUpstream, type Upstream } from './gateway-support';

const POINTS = ['the answer is 42', 'checked twice', 'source: manual'];
const RUBRIC = `Correct, checked and sourced.\n${POINTS.map((p) => `expect: ${p}`).join('\n')}`;

/** An agent whose answers carry `points` of the expected points, each answer worded a little apart. */
function agentAnswering(points: number) {
  let n = 0;
  return (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const content = `Answer #${n++}: ${POINTS.slice(0, points).join('; ')}.`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content } }] }));
    });
  };
}

/** Users calling through the gateway until stopped; every x-agent-version they see is kept. */
function traffic(gw: RunningGateway, agent: string, seen: Set<string>) {
  let stopped = false;
  const clients = Array.from({ length: 3 }, async (_, c) => {
    for (let i = 0; !stopped; i++) {
      const res = await fetch(`${gw.url}/v1/agents/${agent}/invoke/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-session-id': `u${c}-${i}` },
        body: JSON.stringify({ messages: [{ role: 'user', content: `What is the answer? (${c}.${i})` }] }),
      }).catch(() => undefined);
      if (res) {
        seen.add(res.headers.get('x-agent-version') ?? 'none');
        await res.text();
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  });
  return async () => {
    stopped = true;
    await Promise.all(clients);
  };
}

describe('shadow stage: rollouts judged on mirrored pairs', function () {
  this.timeout(90_000);
  let evaluator: LocalEvaluator;
  let stable: Upstream;
  let canary: Upstream;
  let gw: RunningGateway;
  let agent: string;

  async function setUp(canaryPoints: number, pairs: 'tie' | 'hash' | 'first', allowed = true) {
    agent = uniqueName('shadow');
    evaluator = await startLocalEvaluator({ pairs });
    stable = await startUpstream('v1', agentAnswering(3));
    canary = await startUpstream('v2', agentAnswering(canaryPoints));
    gw = await gateway({
      config: {
        agents: {
          [agent]: {
            stable: 'v1',
            versions: { v1: stable.url, v2: canary.url },
            ...(allowed ? { shadow: 'allowed' } : {}),
            evaluate: {
              url: evaluator.url,
              model: 'local',
              rubric: RUBRIC,
              sample: 1e-9,
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
    const stop = traffic(gw, agent, seen);
    try {
      return await withWorker(deps(), async () => {
        const { client } = testEnv();
        assert.deepEqual(await preflight(observe), { problems: [] });
        const handle = await client.workflow.start(WORKFLOW_TYPE, {
          args: [plan(observe)],
          taskQueue: TASK_QUEUE,
          workflowId: workflowIdFor(agent),
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
    const split = await deps().router.getSplit(agent);
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
    assert.match(problems[0], new RegExp(`set agents\\.${agent}\\.shadow: allowed in its config`));
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

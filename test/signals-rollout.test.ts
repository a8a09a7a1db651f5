// Rollouts judged on what the answers themselves say, end to end: real OpenAI and Anthropic SDK
// clients stream through the gateway to local model servers, the worker reads the gateway's metrics
// and the workflow runs on the suite's dev server. A canary that answers with twice the output
// tokens is rolled back on cost; one whose only change is a slower first token is rolled back on
// ttft_p99_ms; a healthy one is promoted; a plan naming a metric the traffic cannot provide is
// refused at preflight. The three rollouts run side by side, with second-long windows.
import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, type RunningGateway } from '../src/gateway';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { createNotifiers } from '../src/notify';
import { resolvePlan } from '../src/plan';
import { GatewayRouter } from '../src/router/gateway';
import { preflightRollout, startRollout } from '../src/temporal/rollouts';
import { startWorker, testEnv, uniqueName, type RunningWorker } from './harness';
import { startLlmServer, type LlmBehaviour, type LlmServer } from './support/llm-server';

const TOKEN = 'signals-admin-token';
const PRICE = { inputPerMTok: 3, outputPerMTok: 15 };

interface Case {
  agent: string;
  stable: Partial<LlmBehaviour>;
  canary: Partial<LlmBehaviour>;
  metrics: string[];
  weight: number;
}

describe('rollouts judged on tokens, cost and time to first token', function () {
  this.timeout(120_000);
  const servers: LlmServer[] = [];
  let gateway: RunningGateway;
  let worker: RunningWorker;
  const taskQueue = uniqueName('signals');
  const cases = {
    cost: {
      agent: uniqueName('cost'),
      stable: { outputTokens: 200 },
      canary: { outputTokens: 400 },
      metrics: ['cost_per_request', 'output_tokens'],
      weight: 20,
    },
    ttft: {
      agent: uniqueName('ttft'),
      stable: {},
      canary: { firstTokenMs: 300 },
      metrics: ['ttft_p99_ms', 'cost_per_request'],
      weight: 10,
    },
    healthy: {
      agent: uniqueName('healthy'),
      stable: {},
      canary: {},
      metrics: ['cost_per_request', 'output_tokens', 'input_tokens'],
      weight: 50,
    },
  } satisfies Record<string, Case>;
  // Each agent's traffic stops when its rollout ends, so the others get the machine.
  const stopped = new Set<string>();
  let stopTraffic = false;
  const traffic: Promise<void>[] = [];

  before(async () => {
    const agents: Record<string, unknown> = {};
    for (const c of Object.values(cases)) {
      const base = { outputTokens: 200, inputTokens: 50, firstTokenMs: 2, chunks: 3, jitter: 0.3 };
      const stable = await startLlmServer({ ...base, ...c.stable });
      const canary = await startLlmServer({ ...base, ...c.canary });
      servers.push(stable, canary);
      agents[c.agent] = {
        stable: 'v1',
        versions: { v1: { upstream: stable.url, price: PRICE }, v2: { upstream: canary.url, price: PRICE } },
      };
    }
    // An agent whose answers never stream and whose v2 has no price: for the preflight refusal.
    const plain = await startLlmServer({ ...{ outputTokens: 10 } });
    servers.push(plain);
    agents.plain = { stable: 'v1', versions: { v1: plain.url, v2: plain.url } };
    gateway = await startGateway({
      host: '127.0.0.1',
      adminToken: TOKEN,
      ingestToken: null,
      config: { agents },
    });
    worker = await startWorker(
      {
        router: new GatewayRouter({ url: gateway.url, token: TOKEN }),
        metrics: new GatewayMetricsSource({ url: gateway.url, token: TOKEN }),
        notifiers: () => createNotifiers([]),
      },
      { taskQueue },
    );
    traffic.push(drive(cases.cost.agent, 4, 'mixed'));
    traffic.push(drive(cases.healthy.agent, 4, 'mixed'));
    // Only streams have a first token: the TTFT rollout gets no JSON answers.
    traffic.push(drive(cases.ttft.agent, 6, 'streams'));
    traffic.push(drive('plain', 1, 'json'));
  });

  after(async () => {
    stopTraffic = true;
    await Promise.allSettled(traffic);
    await worker?.stop();
    await gateway?.close();
    await Promise.all(servers.map((s) => s.close()));
  });

  /** Real SDK clients in a loop: OpenAI chat streams with usage, Anthropic streams, OpenAI JSON. */
  async function drive(
    agent: string,
    concurrency: number,
    kind: 'mixed' | 'streams' | 'json',
  ): Promise<void> {
    const openai = new OpenAI({
      baseURL: `${gateway.url}/v1/agents/${agent}/invoke/v1`,
      apiKey: 'unused',
      maxRetries: 0,
    });
    const anthropic = new Anthropic({
      baseURL: `${gateway.url}/v1/agents/${agent}/invoke`,
      apiKey: 'unused',
      maxRetries: 0,
    });
    const messages = [{ role: 'user' as const, content: 'hello' }];
    const loop = async (n: number) => {
      for (let i = n; !stopTraffic && !stopped.has(agent); i++) {
        try {
          if (kind === 'json' || (kind === 'mixed' && i % 3 === 2)) {
            await openai.chat.completions.create({ model: 'm', messages });
          } else if (i % 2 === 0) {
            const s = await openai.chat.completions.create({
              model: 'm',
              messages,
              stream: true,
              stream_options: { include_usage: true },
            });
            for await (const chunk of s) void chunk;
          } else {
            const s = await anthropic.messages.create({
              model: 'm',
              max_tokens: 1000,
              messages,
              stream: true,
            });
            for await (const event of s) void event;
          }
        } catch (err) {
          if (!stopTraffic) throw err;
        }
        if (kind === 'json') await new Promise((r) => setTimeout(r, 20));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, n) => loop(n)));
  }

  function plan(c: Case) {
    return resolvePlan({
      agent: c.agent,
      stable: 'v1',
      canary: 'v2',
      stages: [{ weight: c.weight, observe: '2s' }, { weight: 100 }],
      analysis: { interval: '500ms', minSamples: 20, inconclusiveLimit: 1000, metrics: c.metrics },
      progressDeadline: '10m',
    });
  }

  it('rolls back twice the output tokens on cost, a slower first token on ttft_p99_ms, promotes a healthy canary', async () => {
    const client = testEnv().client;
    const order = [cases.cost, cases.ttft, cases.healthy];
    const started = await Promise.all(order.map((c) => startRollout(client, plan(c), { taskQueue })));
    const [cost, ttft, healthy] = await Promise.all(
      started.map((s, i) =>
        s.result().then((r) => {
          stopped.add(order[i].agent);
          return r;
        }),
      ),
    );

    assert.equal(cost.state, 'rolled_back', cost.reason);
    assert.match(cost.reason, /cost_per_request/);
    assert.equal(ttft.state, 'rolled_back', ttft.reason);
    assert.match(ttft.reason, /ttft_p99_ms/);
    assert.doesNotMatch(ttft.reason, /cost_per_request: worse/, 'the cost did not change');
    assert.equal(healthy.state, 'promoted', healthy.reason);
    assert.equal(healthy.stable, 'v2');

    // After a rollback every request is the stable's again.
    const split = (await (
      await fetch(`${gateway.url}/v1/admin/agents/${cases.cost.agent}/split`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
    ).json()) as { canaryWeight?: number; weight?: number };
    assert.equal(split.canaryWeight ?? split.weight ?? 0, 0);
  });

  it('refuses at preflight a plan naming what the traffic cannot provide, naming the metric', async () => {
    const client = testEnv().client;
    const source = new GatewayMetricsSource({ url: gateway.url, token: TOKEN });
    // Wait until the plain agent's stable has answered enough to show what its traffic says.
    for (let i = 0; i < 200; i++) {
      const w = await source.fetch({
        agent: 'plain',
        stable: 'v1',
        canary: 'v2',
        since: Date.now() - 600_000,
        until: Date.now() + 1,
      });
      if (w.stable.requests >= 25) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const { problems } = await preflightRollout(
      client,
      resolvePlan({
        agent: 'plain',
        stable: 'v1',
        canary: 'v2',
        analysis: { metrics: ['error_rate', 'ttft_p99_ms', 'cost_per_request', 'output_tokens'] },
      }),
      { taskQueue },
    );
    assert.ok(
      problems.some((p) => /^ttft_p99_ms: none of the \d+ answers of stable "v1"/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /^cost_per_request: version "v1" has no price/.test(p)),
      problems.join('\n'),
    );
    assert.ok(!problems.some((p) => p.startsWith('output_tokens')), 'its answers do say their tokens');
    assert.ok(!problems.some((p) => p.startsWith('error_rate')));

    const ok = await preflightRollout(client, plan(cases.healthy), { taskQueue });
    assert.deepEqual(
      ok.problems.filter((p) => /^(cost|output|input)/.test(p)),
      [],
    );
  });
});

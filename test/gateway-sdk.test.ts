// The official OpenAI and Anthropic SDKs pointed at the gateway (as docs/gateway.md shows), against
// a local server speaking their protocols: answers pass unchanged, `x-request-id` is readable with
// .withResponse() for feedback, and every answer's tokens, time to first token, tool calls and
// finish reason reach the judge's metrics API and the GenAI series on /metrics.
import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { RunningGateway } from '../src/gateway';
import type { VersionMetrics } from '../src/metrics/types';
import { adminHeaders, gateway } from './gateway-support';
import { startLlmServer, type LlmServer } from './support/llm-server';

describe('gateway with the OpenAI and Anthropic SDKs', function () {
  this.timeout(30_000);
  let llm: LlmServer;
  let gw: RunningGateway;
  let openai: OpenAI;
  let anthropic: Anthropic;

  before(async () => {
    llm = await startLlmServer({ inputTokens: 30, outputTokens: 70, firstTokenMs: 30, chunks: 3 });
    gw = await gateway({
      config: {
        agents: {
          bot: {
            stable: 'v1',
            versions: { v1: { upstream: llm.url, price: { inputPerMTok: 1, outputPerMTok: 4 } } },
          },
        },
      },
    });
    openai = new OpenAI({
      baseURL: `${gw.url}/v1/agents/bot/invoke/v1`,
      apiKey: 'sk-test-not-used',
      maxRetries: 0,
    });
    anthropic = new Anthropic({
      baseURL: `${gw.url}/v1/agents/bot/invoke`,
      apiKey: 'not-used',
      maxRetries: 0,
    });
  });
  after(async () => {
    await gw?.close();
    await llm?.close();
  });

  async function versionMetrics(): Promise<VersionMetrics> {
    const now = Date.now();
    const res = await fetch(
      `${gw.url}/v1/admin/agents/bot/metrics?since=${now - 60_000}&until=${now + 2000}`,
      {
        headers: adminHeaders(),
      },
    );
    assert.equal(res.status, 200);
    return ((await res.json()) as { versions: Record<string, VersionMetrics> }).versions.v1;
  }

  it('counts every shape, JSON and streamed, through the real clients', async () => {
    const before = (await versionMetrics()).signals?.answers ?? 0;
    const messages = [{ role: 'user' as const, content: 'hi' }];

    const { data: completion, response } = await openai.chat.completions
      .create({ model: 'test-model', messages })
      .withResponse();
    assert.equal(completion.usage?.completion_tokens, 70);
    assert.match(
      response.headers.get('x-request-id') ?? '',
      /^[0-9a-f-]{36}$/,
      'the id to post feedback with',
    );
    assert.equal(response.headers.get('x-agent-version'), 'v1');

    const stream = await openai.chat.completions.create({
      model: 'test-model',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'part0 part1 part2 ');
    assert.equal(usage?.prompt_tokens, 30);

    const r = await openai.responses.create({ model: 'test-model', input: 'hi' });
    assert.equal(r.usage?.output_tokens, 70);
    const rs = await openai.responses.create({ model: 'test-model', input: 'hi', stream: true });
    let done = false;
    for await (const ev of rs) if (ev.type === 'response.completed') done = true;
    assert.ok(done);

    const m = await anthropic.messages.create({ model: 'test-model', max_tokens: 100, messages });
    assert.equal(m.usage.output_tokens, 70);
    const ms = anthropic.messages.stream({ model: 'test-model', max_tokens: 100, messages });
    const final = await ms.finalMessage();
    assert.equal(final.usage.output_tokens, 70);

    // Recorded when each answer ended: poll, the last one may still be closing on the gateway.
    let v = await versionMetrics();
    for (let i = 0; i < 50 && (v.signals?.answers ?? 0) - before < 6; i++) {
      await new Promise((res) => setTimeout(res, 100));
      v = await versionMetrics();
    }
    const s = v.signals!;
    assert.equal(s.answers - before, 6, 'six readable answers');
    assert.equal(s.outputTokens.count, s.inputTokens.count);
    assert.equal(s.outputTokens.sum, 70 * s.outputTokens.count, 'exact token sums');
    assert.equal(s.inputTokens.sum, 30 * s.inputTokens.count);
    assert.equal(s.cost.count, s.outputTokens.count, 'every answer with tokens is priced');
    assert.ok(Math.abs(s.cost.sum - (s.cost.count * (30 * 1 + 70 * 4)) / 1e6) < 1e-12);
    assert.equal(s.ttftMs.count, 3, 'one first token per stream');
    assert.ok(
      s.ttftMs.histogram.every(([ms]) => ms >= 25),
      'the first token waited for the model',
    );
    assert.equal(s.finish.truncated, 0);

    const prom = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(
      prom,
      /gen_ai_client_token_usage_sum\{agent="bot",version="v1",gen_ai_token_type="output"\} \d+/,
    );
    assert.match(
      prom,
      /gen_ai_client_operation_time_to_first_chunk_seconds_count\{agent="bot",version="v1"\} 3/,
    );
    assert.match(
      prom,
      /gen_ai_client_operation_duration_seconds_bucket\{agent="bot",version="v1",le="\+Inf"\} \d+/,
    );
  });

  it('counts the cost of each task that succeeded, per successful task, in the metrics and on /metrics', async () => {
    const before = (await versionMetrics()).signals?.successCost ?? { count: 0, sum: 0 };
    const messages = [{ role: 'user' as const, content: 'hi' }];
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { response } = await openai.chat.completions
        .create({ model: 'test-model', messages })
        .withResponse();
      ids.push(response.headers.get('x-request-id')!);
    }
    const post = (body: unknown) =>
      fetch(`${gw.url}/v1/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    assert.equal((await post({ requestId: ids[0], taskSuccess: true })).status, 200);
    assert.equal((await post({ requestId: ids[1], taskSuccess: false })).status, 200);
    assert.equal((await post({ requestId: ids[2], qualityScore: 0.8 })).status, 200);
    assert.equal((await post({ requestId: ids[0], taskSuccess: true })).status, 409, 'counted once');
    const after = (await versionMetrics()).signals!.successCost!;
    // 30 input tokens at $1 and 70 output at $4 per million: one successful task.
    assert.equal(after.count - before.count, 1);
    assert.ok(Math.abs(after.sum - before.sum - 0.00031) < 1e-12, String(after.sum - before.sum));
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(text, /agent_canary_successful_tasks_priced_total\{agent="bot",version="v1"\} [1-9]/);
    assert.match(text, /agent_canary_successful_task_cost_total\{agent="bot",version="v1"\} 0\.000/);
  });

  it('counts tool calls the client cannot run, and answers cut off', async () => {
    const before = (await versionMetrics()).signals!;
    llm.behaviour = { ...llm.behaviour, toolCall: 'broken', truncated: true, firstTokenMs: 0 };
    try {
      const tools = [
        { type: 'function' as const, function: { name: 'weather', parameters: { type: 'object' } } },
      ];
      const messages = [{ role: 'user' as const, content: 'weather?' }];
      const c = await openai.chat.completions.create({ model: 'test-model', messages, tools });
      assert.equal(c.choices[0].finish_reason, 'length');
      const stream = await openai.chat.completions.create({
        model: 'test-model',
        messages,
        tools,
        stream: true,
      });
      for await (const chunk of stream) void chunk;
    } finally {
      llm.behaviour = { ...llm.behaviour, toolCall: undefined, truncated: false };
    }
    let after = (await versionMetrics()).signals!;
    for (let i = 0; i < 50 && after.answers - before.answers < 2; i++) {
      await new Promise((res) => setTimeout(res, 100));
      after = (await versionMetrics()).signals!;
    }
    assert.equal(after.tools.calls - before.tools.calls, 2);
    assert.equal(after.tools.errors - before.tools.errors, 2, 'arguments that are not JSON');
    assert.equal(after.finish.truncated - before.finish.truncated, 2);
  });

  it('an answer of unknown shape adds no usage, not zero tokens', async () => {
    const before = (await versionMetrics()).signals!;
    const res = await fetch(`${gw.url}/v1/agents/bot/invoke/v1/plain`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { answer: 'no usage in here' });
    const requests = async () => (await versionMetrics()).requests;
    const counted = await requests();
    assert.ok(counted > before.answers, 'the request itself is counted');
    const after = (await versionMetrics()).signals!;
    assert.equal(after.answers, before.answers);
    assert.equal(after.outputTokens.count, before.outputTokens.count);
  });
});

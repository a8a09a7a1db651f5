// The online evaluator on a real gateway: real upstreams, the local evaluator (an HTTP server
// speaking the OpenAI protocol) called through the official `openai` SDK, OTLP evaluation events.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RunningGateway } from '../src/gateway';
import { startLocalEvaluator, type LocalEvaluator } from '../src/demo/evaluator';
import { eventually } from './harness';
import { TOKEN, gateway, putSplit, startUpstream, type Upstream } from './gateway-support';

const RUBRIC = 'A good answer is correct and sourced.\nexpect: the answer is 42\nexpect: source: manual';

/** A chat-completions agent; `good` answers contain both expected points, bad ones only the first. */
function agent(good: boolean, stream: boolean) {
  const text = good ? 'The answer is 42 (source: manual).' : 'The answer is 42, I think.';
  return (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'c1', choices: [{ message: { role: 'assistant', content: text } }] }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Split mid-word: the evaluator must see the reassembled text.
      for (const piece of [text.slice(0, 9), text.slice(9, 20), text.slice(20)]) {
        res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: piece } }] })}\n\n`);
      }
      res.end('data: [DONE]\n\n');
    });
  };
}

async function metrics(gw: RunningGateway) {
  const res = await fetch(`${gw.url}/v1/admin/agents/bot/metrics?since=0`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return (await res.json()) as {
    versions: Record<
      string,
      {
        requests: number;
        quality: { count: number; sum: number };
        taskSuccess: { total: number; successes: number };
      }
    >;
    evaluator?: {
      state: string;
      reason?: string;
      unavailable: boolean;
      counts: Record<string, number>;
      spend: { calls: number; inputTokens: number; outputTokens: number };
    };
  };
}

async function invoke(gw: RunningGateway, i: number, session?: string) {
  const res = await fetch(`${gw.url}/v1/agents/bot/invoke/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(session ? { 'x-session-id': session } : {}) },
    body: JSON.stringify({ messages: [{ role: 'user', content: `question ${i}: what is the answer?` }] }),
  });
  await res.text();
  assert.equal(res.status, 200);
  return res.headers.get('x-request-id')!;
}

describe('online evaluator on the gateway', function () {
  this.timeout(60_000);
  let evaluator: LocalEvaluator;
  let v1: Upstream;
  let v2: Upstream;
  let gw: RunningGateway | undefined;
  const logs: string[] = [];

  async function start(evaluate: Record<string, unknown>, stream = false) {
    v1 = await startUpstream('v1', agent(true, stream));
    v2 = await startUpstream('v2', agent(false, stream));
    gw = await gateway({
      config: {
        agents: {
          bot: {
            stable: 'v1',
            versions: { v1: v1.url, v2: v2.url },
            evaluate: {
              url: evaluator.url,
              model: 'grader',
              apiKeyEnv: 'EVAL_KEY',
              rubric: RUBRIC,
              sample: 1,
              ...evaluate,
            },
          },
        },
      },
      env: { EVAL_KEY: 'sk-local-secret-123' },
      log: (l) => logs.push(l),
    });
    await putSplit(gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 50, leaseMs: 60_000 });
  }

  beforeEach(async () => {
    logs.length = 0;
    evaluator = await startLocalEvaluator({ apiKey: 'sk-local-secret-123' });
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await Promise.all([v1?.close(), v2?.close(), evaluator.close()]);
  });

  it('grades both versions blind, streams reassembled, as quality and task outcome of each request', async () => {
    await start({}, true);
    for (let i = 0; i < 40; i++) await invoke(gw!, i, `s${i}`);
    const m = await eventually(
      () => metrics(gw!),
      (m) => m.versions.v1.quality.count + m.versions.v2.quality.count === 40,
      { what: 'every request graded' },
    );
    const { v1: good, v2: bad } = m.versions;
    assert.ok(good.quality.count > 5 && bad.quality.count > 5, JSON.stringify(m.versions));
    assert.equal(good.quality.sum / good.quality.count, 1);
    assert.equal(bad.quality.sum / bad.quality.count, 0.5);
    assert.equal(good.taskSuccess.total, good.quality.count);
    assert.equal(m.evaluator?.state, 'ok');
    assert.equal(m.evaluator?.spend.calls, 40);
    assert.ok(m.evaluator!.spend.inputTokens > 0);
    // The key is only in the environment: never in an answer or a log line.
    assert.doesNotMatch(JSON.stringify(m) + logs.join('\n'), /sk-local-secret/);
    // Feedback after the evaluator is refused and says why.
    const id = await invoke(gw!, 99);
    await eventually(
      () => metrics(gw!),
      (m) => m.versions.v1.quality.count + m.versions.v2.quality.count === 41,
    );
    const fb = await fetch(`${gw!.url}/v1/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ requestId: id, qualityScore: 0.1 }),
    });
    assert.equal(fb.status, 409);
    assert.match(((await fb.json()) as { error: string }).error, /by the evaluator/);
    const prom = await (await fetch(`${gw!.url}/metrics`)).text();
    assert.match(prom, /agent_canary_evaluator_outcomes_total\{agent="bot",version="v1"\} \d+/);
  });

  it('samples both versions by the same rule', async () => {
    await start({ sample: 0.3, maxPerMinute: 10_000 });
    const n = 240;
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; i < n; i += 8) await invoke(gw!, i);
      }),
    );
    const m = await eventually(
      () => metrics(gw!),
      (m) => m.evaluator!.counts.recorded === m.evaluator!.counts.sampled,
      { what: 'the sampled requests graded' },
    );
    // Four standard deviations (the rate's precision is tested on 200,000 draws without a server).
    for (const v of ['v1', 'v2']) {
      const { requests, quality } = m.versions[v];
      const rate = quality.count / requests;
      assert.ok(
        Math.abs(rate - 0.3) <= 4 * Math.sqrt((0.3 * 0.7) / requests),
        `${v}: ${rate} of ${requests}`,
      );
    }
  });

  it('an evaluator that goes away is "down" (no data, said why) and recovers when it returns', async () => {
    await start({});
    for (let i = 0; i < 5; i++) await invoke(gw!, i);
    await eventually(
      () => metrics(gw!),
      (m) => m.evaluator!.state === 'ok' && m.evaluator!.counts.recorded === 5,
    );
    const port = evaluator.port;
    await evaluator.close();
    const down = await eventually(
      async () => {
        await invoke(gw!, 100);
        return metrics(gw!);
      },
      (m) => m.evaluator!.state === 'down',
      { what: 'the evaluator down', timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.equal(down.evaluator!.unavailable, true);
    assert.match(down.evaluator!.reason!, /down since .*cannot connect/);
    assert.ok(
      logs.some((l) => /evaluator http:\/\/127\.0\.0\.1:\d+\/… down/.test(l)),
      logs.join('\n'),
    );
    const before = down.versions.v1.quality.count + down.versions.v2.quality.count;
    assert.equal(before, 5, 'no score while it is down (never a zero)');

    evaluator = await startLocalEvaluator({ port, apiKey: 'sk-local-secret-123' });
    const up = await eventually(
      async () => {
        await invoke(gw!, 200);
        return metrics(gw!);
      },
      (m) => m.evaluator!.state === 'ok' && !m.evaluator!.unavailable,
      { what: 'the evaluator back', timeoutMs: 40_000, intervalMs: 300 },
    );
    assert.ok(up.versions.v1.quality.count + up.versions.v2.quality.count > before);
  });

  it('junk answers are failures, not scores', async () => {
    await start({});
    evaluator.junk(true);
    const m = await eventually(
      async () => {
        await invoke(gw!, 1);
        return metrics(gw!);
      },
      (m) => m.evaluator!.state === 'down',
      { what: 'junk to open the breaker', intervalMs: 50 },
    );
    assert.match(m.evaluator!.reason!, /other than the verdict JSON/);
    assert.ok(m.evaluator!.counts.junk >= 3);
    assert.equal(m.versions.v1.quality.count + m.versions.v2.quality.count, 0);
  });

  it('a key variable that is not set is named in the log and in the reason', async () => {
    await start({ apiKeyEnv: 'NOT_SET_ANYWHERE' });
    assert.ok(logs.some((l) => /NOT_SET_ANYWHERE, which is not set/.test(l)));
    const m = await eventually(
      async () => {
        await invoke(gw!, 1);
        return metrics(gw!);
      },
      (m) => m.evaluator!.state === 'down',
      { what: 'HTTP 401 to open the breaker', intervalMs: 50 },
    );
    assert.match(m.evaluator!.reason!, /answered HTTP 401 \(its key variable NOT_SET_ANYWHERE is not set\)/);
  });

  it('evaluates a whole conversation once it has been idle', async () => {
    await start({ session: { idle: '300ms' } });
    for (let i = 0; i < 3; i++) await invoke(gw!, i, 'conv-a');
    for (let i = 0; i < 2; i++) await invoke(gw!, i, 'conv-b');
    const m = await eventually(
      () => metrics(gw!),
      (m) => m.evaluator!.counts.recorded === 2,
      { what: 'two conversations graded' },
    );
    assert.equal(m.evaluator!.spend.calls, 2);
    assert.equal(m.versions.v1.quality.count + m.versions.v2.quality.count, 2);
  });

  it('OTLP gen_ai.evaluation.result events move quality_score and task_success_rate', async () => {
    await start({ sample: 0.000001 });
    const id = await invoke(gw!, 1, 'otlp');
    const attr = (key: string, value: Record<string, unknown>) => ({ key, value });
    const record = (name: string, extra: object[]) => ({
      eventName: 'gen_ai.evaluation.result',
      attributes: [
        attr('gen_ai.evaluation.name', { stringValue: name }),
        attr('gen_ai.response.id', { stringValue: id }),
        ...extra,
      ],
    });
    const body = {
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                record('relevance', [attr('gen_ai.evaluation.score.value', { doubleValue: 0.25 })]),
                record('task_success', [attr('gen_ai.evaluation.score.label', { stringValue: 'fail' })]),
                record('toxicity', [attr('gen_ai.evaluation.score.value', { doubleValue: 0.1 })]),
                { attributes: [attr('event.name', { stringValue: 'something.else' })] },
              ],
            },
          ],
        },
      ],
    };
    const res = await fetch(`${gw!.url}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as {
      partialSuccess?: { rejectedLogRecords: number; errorMessage: string };
    };
    assert.equal(answer.partialSuccess?.rejectedLogRecords, 1);
    assert.match(answer.partialSuccess!.errorMessage, /"toxicity" is mapped to no metric/);
    const m = await metrics(gw!);
    const all = [m.versions.v1, m.versions.v2];
    assert.equal(
      all.reduce((n, v) => n + v.quality.count, 0),
      1,
    );
    assert.equal(
      all.reduce((n, v) => n + v.quality.sum, 0),
      0.25,
    );
    assert.deepEqual(
      all.map((v) => v.taskSuccess).filter((t) => t.total > 0),
      [{ total: 1, successes: 0 }],
    );
    const proto = await fetch(`${gw!.url}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: 'x',
    });
    assert.equal(proto.status, 415);
  });
});

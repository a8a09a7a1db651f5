// The online evaluator's pure parts, without a server: config, sample rule, budget, breaker,
// transcripts, verdict parsing, OTLP events, the local grader and the judge's "no data".
import assert from 'node:assert/strict';
import { withEvaluator } from '../src/analysis/evaluator';
import { renderStatus } from '../src/cli/render';
import type { RolloutStatus } from '../workflows/messages';
import { evaluatedPerSecond, forecast } from '../src/analysis/forecast';
import { resolvePlan } from '../src/plan';
import type { Verdict } from '../src/analysis/types';
import { grade } from '../src/demo/evaluator';
import { GatewayConfigError, resolveGatewayConfig } from '../src/gateway/config';
import { AgentEvaluator, parseVerdict } from '../src/gateway/evaluator';
import { Breaker, Budget } from '../src/gateway/evaluator-budget';
import { DEFAULT_EVALUATION_NAMES } from '../src/gateway/evaluator-config';
import { ExportLogsSchema, parseEvaluations } from '../src/gateway/evaluator-otlp';
import { answerText, requestText } from '../src/gateway/evaluator-transcript';
import { emptyVersionMetrics, type MetricsWindow } from '../src/metrics/types';

const evaluate = { url: 'http://127.0.0.1:9/v1', model: 'm', rubric: 'be right', sample: 0.05 };
const config = (e: Record<string, unknown>) => ({
  agents: { bot: { stable: 'v1', versions: { v1: 'http://127.0.0.1:9' }, evaluate: e } },
});

function problems(input: unknown): string {
  try {
    resolveGatewayConfig(input);
  } catch (err) {
    assert.ok(err instanceof GatewayConfigError);
    return err.message;
  }
  assert.fail('expected a config error');
}

describe('online evaluator: pure parts', () => {
  it('config: defaults, and every bad field named', () => {
    const c = resolveGatewayConfig(config(evaluate)).agents.get('bot')!.evaluate!;
    assert.deepEqual([c.maxPerMinute, c.maxTokensPerDay, c.timeout], [60, 1_000_000, 30_000]);
    assert.match(
      problems(config({ ...evaluate, url: 'http://u:p@host/v1' })),
      /evaluate\.url: must not carry user:password@/,
    );
    assert.match(problems(config({ ...evaluate, url: 'file:///etc' })), /evaluate\.url: must be http/);
    assert.match(problems(config({ ...evaluate, sample: 0 })), /evaluate\.sample: must be above 0/);
    assert.match(problems(config({ ...evaluate, sample: 2 })), /evaluate\.sample: must be at most 1/);
    assert.match(problems(config({ ...evaluate, apiKey: 'sk-x' })), /evaluate: Unrecognized key: "apiKey"/);
    assert.match(
      problems(config({ ...evaluate, apiKeyEnv: 'not a name' })),
      /apiKeyEnv: must be an environment variable/,
    );
    assert.match(
      problems(config({ ...evaluate, session: { idle: '10ms' } })),
      /session\.idle: must be at least/,
    );
    assert.match(
      problems({ ...config(evaluate), evaluations: { names: { q: 'latency' } } }),
      /evaluations\.names\.q/,
    );
  });

  it('samples at the configured rate, turns at random and conversations as a whole', () => {
    const c = resolveGatewayConfig(config(evaluate)).agents.get('bot')!.evaluate!;
    const ev = new AgentEvaluator({ agent: 'bot', config: c, record: async () => true });
    let turns = 0;
    for (let i = 0; i < 200_000; i++) if (ev.begin(undefined)) turns++;
    assert.ok(Math.abs(turns / 200_000 - 0.05) < 0.005, `turn rate ${turns / 200_000}`);
    ev.close();
    const s = resolveGatewayConfig(config({ ...evaluate, session: { idle: '1s' } })).agents.get(
      'bot',
    )!.evaluate!;
    const sessions = new AgentEvaluator({ agent: 'bot', config: s, record: async () => true });
    let picked = 0;
    for (let i = 0; i < 200_000; i++) if (sessions.begin(`user-${i}`)) picked++;
    assert.ok(Math.abs(picked / 200_000 - 0.05) < 0.005, `session rate ${picked / 200_000}`);
    // A conversation is in or out as a whole.
    const first = sessions.begin('user-7') !== undefined;
    for (let i = 0; i < 20; i++) assert.equal(sessions.begin('user-7') !== undefined, first);
    sessions.close();
  });

  it('budget: calls per minute, tokens per UTC day', () => {
    const b = new Budget(2, 100);
    const t = Date.UTC(2026, 0, 1, 23, 58, 0);
    assert.equal(b.take(t), undefined);
    assert.equal(b.take(t + 1), undefined);
    assert.equal(b.take(t + 2), 'minute');
    assert.equal(b.take(t + 60_001), undefined);
    b.spend(100, t + 60_001);
    assert.equal(b.take(t + 60_002), 'day');
    assert.equal(b.exhausted(t + 60_002), true);
    // A new UTC day: spendable again.
    assert.equal(b.exhausted(Date.UTC(2026, 0, 2, 0, 0, 1)), false);
  });

  it('breaker: opens after consecutive failures, probes once after a cool-down that doubles', () => {
    const br = new Breaker({ failures: 2, coolDownMs: 1000, maxCoolDownMs: 3000 });
    br.failure('x', 0);
    assert.equal(br.open, false);
    br.success();
    br.failure('x', 0);
    br.failure('cannot connect', 10);
    assert.equal(br.open, true);
    assert.equal(br.allow(500), false);
    assert.equal(br.allow(1010), true);
    assert.equal(br.allow(1011), false, 'one probe at a time');
    br.failure('cannot connect', 1100);
    assert.equal(br.allow(2500), false, 'cool-down doubled');
    assert.equal(br.allow(3100), true);
    br.success();
    assert.equal(br.open, false);
    assert.equal(br.allow(3101), true);
  });

  it('transcripts: chat messages, reassembled streams of three protocols, raw fallbacks', () => {
    const req = Buffer.from(
      JSON.stringify({
        system: 'be brief',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'user', content: [{ type: 'text', text: 'and?' }] },
        ],
      }),
    );
    assert.equal(requestText(req), 'system: be brief\nuser: hi\nuser: and?');
    assert.equal(requestText(Buffer.from('plain words')), 'plain words');
    const sse = (events: object[]) =>
      Buffer.from(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n');
    assert.equal(
      answerText(
        sse([{ choices: [{ delta: { content: 'Hel' } }] }, { choices: [{ delta: { content: 'lo' } }] }]),
        'text/event-stream',
      ),
      'Hello',
    );
    assert.equal(
      answerText(
        sse([
          { type: 'content_block_delta', delta: { type: 'text_delta', text: 'An' } },
          { type: 'content_block_delta', delta: { text: 'thropic' } },
        ]),
        'text/event-stream; charset=utf-8',
      ),
      'Anthropic',
    );
    assert.equal(
      answerText(sse([{ type: 'response.output_text.delta', delta: 'Resp' }]), 'text/event-stream'),
      'Resp',
    );
    assert.equal(
      answerText(
        Buffer.from(JSON.stringify({ choices: [{ message: { content: 'ok' } }] })),
        'application/json',
      ),
      'ok',
    );
    assert.equal(
      answerText(
        Buffer.from(JSON.stringify({ content: [{ type: 'text', text: 'claude' }] })),
        'application/json',
      ),
      'claude',
    );
    assert.equal(answerText(Buffer.from('not json'), undefined), 'not json');
  });

  it('verdicts: the schema or nothing (junk is no data, never a zero)', () => {
    assert.deepEqual(parseVerdict('{"score":0.5,"taskSuccess":true,"reason":"ok"}'), {
      score: 0.5,
      taskSuccess: true,
      reason: 'ok',
    });
    assert.equal(parseVerdict('```json\n{"score":1,"taskSuccess":false,"reason":""}\n```')?.score, 1);
    for (const junk of ['great!', '{"score":1.5,"taskSuccess":true,"reason":""}', '{"score":1}', null, '']) {
      assert.equal(parseVerdict(junk), undefined, String(junk));
    }
  });

  it('OTLP: evaluation events mapped by name; others ignored or rejected with a reason', () => {
    const kv = (key: string, value: object) => ({ key, value });
    const doc = {
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                {
                  eventName: 'gen_ai.evaluation.result',
                  attributes: [
                    kv('gen_ai.evaluation.name', { stringValue: 'quality' }),
                    kv('agent_canary.request_id', { stringValue: 'r1' }),
                    kv('gen_ai.evaluation.score.value', { doubleValue: 0.7 }),
                  ],
                },
                {
                  attributes: [
                    kv('event.name', { stringValue: 'gen_ai.evaluation.result' }),
                    kv('gen_ai.evaluation.name', { stringValue: 'task_success' }),
                    kv('gen_ai.response.id', { stringValue: 'r2' }),
                    kv('gen_ai.evaluation.score.value', { intValue: '1' }),
                  ],
                },
                {
                  eventName: 'gen_ai.evaluation.result',
                  attributes: [
                    kv('gen_ai.evaluation.name', { stringValue: 'quality' }),
                    kv('gen_ai.response.id', { stringValue: 'r3' }),
                  ],
                },
                {
                  eventName: 'gen_ai.evaluation.result',
                  attributes: [
                    kv('gen_ai.evaluation.name', { stringValue: 'quality' }),
                    kv('gen_ai.evaluation.score.value', { doubleValue: 1 }),
                  ],
                },
                { eventName: 'other.event', attributes: [] },
              ],
            },
          ],
        },
      ],
    };
    const { outcomes, rejected } = parseEvaluations(ExportLogsSchema.parse(doc), DEFAULT_EVALUATION_NAMES);
    assert.deepEqual(outcomes, [
      { requestId: 'r1', name: 'quality', qualityScore: 0.7 },
      { requestId: 'r2', name: 'task_success', taskSuccess: true },
    ]);
    assert.equal(rejected.length, 2);
    assert.match(rejected.join('|'), /score\.value missing/);
    assert.match(rejected.join('|'), /no request id/);
  });

  it('the local grader: share of expected points in the answers only', () => {
    const rubric = 'expect: forty two\nexpect: source';
    assert.equal(grade(rubric, 'Request:\nforty two?\n\nAnswer:\nit is forty two').score, 0.5);
    assert.equal(grade(rubric, 'Request:\nq\n\nAnswer:\nforty two, source: me').taskSuccess, true);
    assert.equal(grade(rubric, 'Request:\nsource forty two\n\nAnswer:\nno idea').score, 0);
    assert.equal(grade('no expectations', 'Request:\nq\n\nAnswer:\n').score, 0);
  });

  it('the judge: an evaluator that is down leaves its metrics without data, and says so', () => {
    const window: MetricsWindow = {
      agent: 'bot',
      since: 0,
      until: 1,
      stable: emptyVersionMetrics('v1'),
      canary: emptyVersionMetrics('v2'),
      evaluator: {
        state: 'down',
        reason: 'evaluator http://e/… down since T: cannot connect',
        unavailable: true,
        spend: { calls: 3, inputTokens: 10, outputTokens: 2 },
      },
    };
    const verdict: Verdict = {
      verdict: 'fail',
      judge: 'statistical',
      reason: 'quality_score: worse',
      metrics: [
        {
          metric: 'quality_score',
          stable: 0.9,
          canary: 0.1,
          stableSamples: 50,
          canarySamples: 50,
          status: 'fail',
          reason: 'worse',
          stats: { llr: [9], detail: '' },
        },
        {
          metric: 'error_rate',
          stable: 0,
          canary: 0,
          stableSamples: 50,
          canarySamples: 50,
          status: 'pass',
          reason: 'ok',
        },
      ],
    };
    const out = withEvaluator(verdict, window);
    assert.equal(out.verdict, 'inconclusive');
    assert.equal(out.metrics[0].status, 'nodata');
    assert.equal(out.metrics[0].stats, undefined, 'no evidence from a window the evaluator could not score');
    assert.match(out.metrics[0].reason, /quality_score: no data: evaluator .* down since T: cannot connect/);
    assert.equal(out.metrics[1].status, 'pass');
    assert.deepEqual(out.evaluator, {
      state: 'down',
      reason: window.evaluator!.reason,
      calls: 3,
      tokens: 12,
    });
    // Up again: the verdict stands as judged, with the spend beside it.
    const up = withEvaluator(verdict, {
      ...window,
      evaluator: { ...window.evaluator!, state: 'ok', unavailable: false, reason: undefined },
    });
    assert.equal(up.verdict, 'fail');
    assert.equal(up.evaluator?.state, 'ok');
  });

  it('forecast: the evaluator metrics accrue evidence at the graded rate (sample and budget)', () => {
    const rate = { sample: 0.05, maxPerMinute: 60, maxTokensPerDay: 1e9, tokensPerCall: 1000 };
    assert.equal(evaluatedPerSecond(10, rate), 0.5);
    assert.equal(evaluatedPerSecond(100, rate), 1, 'capped by 60 calls a minute');
    assert.equal(
      evaluatedPerSecond(100, { ...rate, maxTokensPerDay: 8_640_000 }),
      0.1,
      'capped by tokens a day',
    );
    const plan = resolvePlan({ agent: 'bot', stable: 'v1', canary: 'v2' });
    const all = forecast(plan, 10);
    const graded = forecast(plan, 10, {}, rate);
    assert.equal(graded.evaluatedPerSecond, 0.5);
    const ms = (f: typeof all, metric: string) =>
      f.stages[0].metrics.find((m) => m.metric === metric)!.healthyMs;
    // 5% sampled: about 20 times as long for the evaluator's metrics, the same for the others.
    const ratio = ms(graded, 'quality_score') / ms(all, 'quality_score');
    assert.ok(ratio > 19 && ratio < 21, `ratio ${ratio}`);
    assert.equal(ms(graded, 'error_rate'), ms(all, 'error_rate'));
    assert.ok(
      graded.warnings.some((w) => /with 0\.5 graded\/s/.test(w) && /evaluate more requests/.test(w)),
      graded.warnings.join('\n'),
    );
  });

  it('status: an evaluator line, down with its reason or up with the rollout spend', () => {
    const t = '2026-12-05T10:00:00.000Z';
    const status = (evaluator: NonNullable<RolloutStatus['lastAnalysis']>['evaluator']) =>
      ({
        workflowId: 'canary-bot',
        agent: 'bot',
        stable: 'v1',
        canary: 'v2',
        state: 'progressing',
        stageIndex: 0,
        stageCount: 2,
        canaryPercent: 50,
        stages: [
          { weight: 50, observeMs: 60_000 },
          { weight: 100, observeMs: 0 },
        ],
        stageStartedAt: t,
        observedMs: 1000,
        remainingMs: 59_000,
        startedAt: t,
        deadlineAt: t,
        failedChecks: 0,
        failureLimit: 2,
        inconclusiveStreak: 1,
        lastAnalysis: {
          at: t,
          windowStart: t,
          failedChecks: 0,
          inconclusiveStreak: 1,
          verdict: 'inconclusive',
          judge: 'statistical',
          reason: 'x',
          metrics: [],
          evaluator,
        },
        decisions: [],
        notifyFailures: [],
      }) as RolloutStatus;
    const down = renderStatus(
      status({
        state: 'down',
        reason: 'evaluator http://e/… down since T: cannot connect',
        calls: 3,
        tokens: 1200,
      }),
      { now: Date.parse(t) },
    );
    assert.match(
      down,
      /evaluator: evaluator http:\/\/e\/… down since T: cannot connect; 3 call\(s\), 1,200 tokens this rollout/,
    );
    const up = renderStatus(status({ state: 'ok', calls: 40, tokens: 51234 }), { now: Date.parse(t) });
    assert.match(up, /evaluator: ok, 40 call\(s\), 51,234 tokens this rollout/);
  });
});

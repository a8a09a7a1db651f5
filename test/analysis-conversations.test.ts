// The conversation as the unit of analysis (judge v4): the gateway's per-conversation counters
// (src/gateway/conversations.ts) feed the judge, so one user whose every turn fails is one bad
// conversation, not a regression; a regression spread over conversations still fails; incidents on
// both versions hold the stage. Pure code: the gateway's counters, the judge and the policy's
// cross-stage rule, no server.
import assert from 'node:assert/strict';
import { judgeStatistical } from '../src/analysis';
import { judgeAcrossStages } from '../src/analysis/evidence';
import { seededRandom } from '../src/demo/random';
import { ConversationCounters } from '../src/gateway/conversations';
import { VersionSeries } from '../src/gateway/metrics-store';
import type { MetricsWindow, VersionMetrics } from '../src/metrics/types';
import type { RunningGateway } from '../src/gateway';
import { analysisWith, healthy, windowOf as fixtureWindow } from './analysis-fixtures';
import {
  adminHeaders,
  gateway,
  invoke,
  putSplit,
  startUpstream,
  waitFor,
  type Upstream,
} from './gateway-support';

const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

/** Conversations through the gateway's own counters, for a version. */
function served(
  name: string,
  conversations: { turns: number; errorRate: number; key?: string }[],
  seed: number,
): VersionMetrics {
  const rand = seededRandom(seed);
  const series = new VersionSeries('agent', name, 6 * 3600);
  let t = T0;
  conversations.forEach((c, i) => {
    const key = c.key ?? `${name}-${i}`;
    for (let turn = 0; turn < c.turns; turn++) {
      t += 50;
      const error = rand() < c.errorRate;
      const latency = 200 + 200 * rand();
      series.recordRequest(latency, error, t);
      series.conversations.request(key, latency, error, t);
    }
  });
  return series.query(T0, T0 + HOUR, T0 + HOUR);
}

const windowOf = (stable: VersionMetrics, canary: VersionMetrics): MetricsWindow => ({
  agent: 'agent',
  since: T0,
  until: T0 + HOUR,
  stable,
  canary,
});
const withoutConversations = (m: VersionMetrics): VersionMetrics => {
  const { conversations: _, ...rest } = m;
  return rest;
};
const many = (n: number, turns: number, errorRate: number) =>
  Array.from({ length: n }, () => ({ turns, errorRate }));

describe('the conversation as the unit', () => {
  const a = analysisWith({ metrics: ['error_rate'] });
  const err = (w: MetricsWindow) => judgeStatistical(w, a, true).metrics[0];

  it('one user whose every turn fails is one bad conversation, not a regression', () => {
    const stable = served('v1', many(3000, 10, 0.01), 1);
    // The canary: the same traffic, plus one conversation retrying a malformed input 60 times.
    const canary = served('v2', [...many(150, 10, 0.01), { turns: 60, errorRate: 1 }], 2);
    const perRequest = err(windowOf(withoutConversations(stable), withoutConversations(canary)));
    assert.equal(
      perRequest.status,
      'fail',
      `counted per request it looks like a regression: ${perRequest.reason}`,
    );
    const perConversation = err(windowOf(stable, canary));
    assert.notEqual(perConversation.status, 'fail', perConversation.reason);
    assert.equal(perConversation.stats!.unit, 'conversation');
    // The burst shows in the measured variance inflation the verdict reports.
    assert.ok(perConversation.stats!.inflation! > 3, perConversation.stats!.detail);
    assert.match(perConversation.stats!.detail, /variance [\d.]+x binomial, allowed for/);
  });

  it('a regression spread over conversations still fails, judged with conversations as the unit', () => {
    const stable = served('v1', many(3000, 10, 0.01), 3);
    const canary = served('v2', many(600, 10, 0.05), 4);
    const r = err(windowOf(stable, canary));
    assert.equal(r.status, 'fail', r.reason);
    assert.equal(r.stats!.unit, 'conversation');
  });

  it('a failing user on the large stable does not hold a healthy canary; one on the canary counts in full', () => {
    // About 12% on the canary. The stable's rate is known from 72,000 requests: its failing user
    // barely moves the difference, while the same user on the canary's 10,000 is 3/4 of its errors.
    // (A variance pooled over both versions' requests weighed the stable's user 7 times the canary's.)
    const user = { turns: 300, errorRate: 1 };
    const stableUser = err(
      windowOf(served('v1', [user, ...many(10000, 10, 0.01)], 21), served('v2', many(1000, 10, 0.01), 22)),
    );
    const canaryUser = err(
      windowOf(served('v1', many(10000, 10, 0.01), 23), served('v2', [user, ...many(1000, 10, 0.01)], 24)),
    );
    assert.equal(stableUser.status, 'pass', stableUser.reason);
    assert.notEqual(canaryUser.status, 'fail', canaryUser.reason);
    assert.notEqual(canaryUser.status, 'pass', canaryUser.reason);
    assert.ok(
      canaryUser.stats!.inflation! > 5 * stableUser.stats!.inflation!,
      `${canaryUser.stats!.detail} || ${stableUser.stats!.detail}`,
    );
  });

  it('long conversations keep the power of all their requests (nearly every one has an error on both)', () => {
    // 100 long-lived sessions of 200 turns each: at 1% errors 87% of the stable's conversations
    // have an error, so "a conversation with an error" could not tell 1% from 3%; their requests can.
    const stable = served('v1', many(100, 200, 0.01), 11);
    const canary = served('v2', many(100, 200, 0.03), 12);
    const r = err(windowOf(stable, canary));
    assert.equal(r.status, 'fail', r.reason);
    assert.ok(r.stats!.inflation! < 2, `independent errors show no dispersion: ${r.stats!.detail}`);
    // The same long conversations, both at 1%, pass.
    const same = err(windowOf(stable, served('v2', many(100, 200, 0.01), 13)));
    assert.notEqual(same.status, 'fail', same.reason);
  });

  it('one user whose every task fails is one bursty conversation, not a regression', () => {
    const outcomes = (name: string, conversations: { turns: number; failRate: number }[], seed: number) => {
      const rand = seededRandom(seed);
      const series = new VersionSeries('agent', name, 6 * 3600);
      let t = T0;
      conversations.forEach((c, i) => {
        for (let turn = 0; turn < c.turns; turn++) {
          t += 50;
          series.recordRequest(200, false, t);
          series.conversations.request(`${name}-${i}`, 200, false, t);
          const taskSuccess = rand() >= c.failRate;
          series.recordOutcome({ taskSuccess }, t);
          series.conversations.outcome(`${name}-${i}`, { taskSuccess }, t);
        }
      });
      return series.query(T0, T0 + HOUR, T0 + HOUR);
    };
    const fails = (n: number, turns: number, failRate: number) =>
      Array.from({ length: n }, () => ({ turns, failRate }));
    const tasks = analysisWith({ metrics: ['task_success_rate'] });
    const stable = outcomes('v1', fails(2000, 10, 0.1), 21);
    const canary = outcomes('v2', [...fails(100, 10, 0.1), { turns: 80, failRate: 1 }], 22);
    const perRequest = judgeStatistical(
      windowOf(withoutConversations(stable), withoutConversations(canary)),
      tasks,
      true,
    ).metrics[0];
    assert.equal(perRequest.status, 'fail', `counted as independent it looks worse: ${perRequest.reason}`);
    const r = judgeStatistical(windowOf(stable, canary), tasks, true).metrics[0];
    assert.notEqual(r.status, 'fail', r.reason);
    assert.ok(r.stats!.inflation! > 3, r.stats!.detail);
  });

  it('a source without conversation counts is judged per request, and the rollout says what it assumes', () => {
    const stable = withoutConversations(served('v1', many(3000, 10, 0.01), 5));
    const canary = withoutConversations(served('v2', many(300, 10, 0.01), 6));
    const v = judgeStatistical(windowOf(stable, canary), a, true);
    assert.equal(v.metrics[0].stats!.unit, 'request');
    const across = judgeAcrossStages(v, undefined, a, 4, true);
    assert.match(
      across.verdict.metrics[0].stats!.detail,
      /judged per request .*assumes variance at most 2x binomial/,
    );
  });

  it('an error limit broken on both versions holds the stage, whatever its size', () => {
    // An upstream failing for both: 40% errors everywhere, far beyond the 5% limit.
    const stable = served('v1', many(2000, 10, 0.4), 7);
    const canary = served('v2', many(200, 10, 0.4), 8);
    const v = judgeStatistical(windowOf(stable, canary), a, true);
    const across = judgeAcrossStages(v, undefined, a, 4, true);
    assert.equal(across.verdict.verdict, 'inconclusive', across.verdict.reason);
    assert.match(across.verdict.reason, /stable is beyond the limit too.*check the upstreams/);
  });
});

describe('judge v4 across stages', () => {
  it('a check with too few samples does not fire a guardrail the stable was breaking too', () => {
    const a = analysisWith({ metrics: ['task_success_rate'] });
    // Stage 1: failures reported more often than successes, on both versions: 82% task success
    // against the 90% floor on stable and canary alike. Held, never the canary's fault.
    const biased = (n: number, rate: number) => ({
      ...healthy(n),
      successes: Math.round(n * rate),
      total: n,
    });
    const first = judgeStatistical(fixtureWindow(biased(4000, 0.82), biased(400, 0.8)), a, true);
    const stage1 = judgeAcrossStages(first, undefined, a, 2, true);
    assert.notEqual(stage1.verdict.verdict, 'fail', stage1.verdict.reason);
    // Stage 2's first check: 9 outcomes on the canary, too few to judge; the carried guardrail
    // evidence must not fire on a window that cannot say whether the stable keeps the limit.
    const thin = judgeStatistical(fixtureWindow(biased(20, 0.8), biased(9, 0.78)), a, true);
    assert.equal(thin.metrics[0].status, 'nodata');
    const stage2 = judgeAcrossStages(thin, stage1.evidence, a, 1, true);
    assert.notEqual(stage2.verdict.verdict, 'fail', stage2.verdict.reason);
  });
});

describe('the gateway per-conversation counters', () => {
  it('count a conversation once per window, its first error once in its life, and add up by second', () => {
    const c = new ConversationCounters(3600);
    // Conversation "a": 3 requests in the first minute (2nd fails), 2 in the second (both fail).
    c.request('a', 100, false, T0);
    c.request('a', 900, true, T0 + 1000);
    c.request('a', 300, false, T0 + 2000);
    c.request('a', 100, true, T0 + 61_000);
    c.request('a', 2000, true, T0 + 62_000);
    c.request(undefined, 100, true, T0 + 63_000); // no session id: a conversation of one
    const first = c.query(T0, T0 + 60_000, T0 + 120_000);
    const second = c.query(T0 + 60_000, T0 + 120_000, T0 + 120_000);
    const all = c.query(T0, T0 + 120_000, T0 + 120_000);
    assert.deepEqual([first.count, first.errored, first.cleanRequests], [1, 1, 0]);
    assert.deepEqual([second.count, second.errored], [1, 1]); // only the session-less request
    assert.deepEqual([all.count, all.errored], [2, 2]);
    // Sums of squares over conversations: "a" has 5 requests, 3 errors; the other 1 and 1.
    assert.deepEqual([all.requestsSq, all.errorsSq, all.errorsRequests], [25 + 1, 9 + 1, 15 + 1]);
    // Task outcomes: "a" reports 4 (the 2nd and 4th failed), the session-less one 1 success.
    for (const [i, ok] of [true, false, true, false].entries()) c.outcome('a', { taskSuccess: ok }, T0 + i);
    c.outcome(undefined, { taskSuccess: true }, T0 + 5);
    const out = c.query(T0, T0 + 120_000, T0 + 120_000);
    assert.deepEqual([out.failuresSq, out.failuresOutcomes, out.outcomesSq], [4, 8, 16 + 1]);
    // Its slowest request moved up twice: counted once, at the slowest value.
    const above = (h: [number, number][], x: number) =>
      h.filter(([v]) => v > x).reduce((s, [, n]) => s + n, 0);
    assert.equal(above(all.slowest, 1500), 1);
    assert.equal(above(all.slowest, 50), 2);
    assert.equal(above(first.slowest, 500), 1);
    assert.equal(above(second.slowest, 500), 0, 'went above 500ms in the first window already');
  });

  it('remember a bounded number of conversations and digest long session ids', () => {
    const c = new ConversationCounters(3600, 100);
    for (let i = 0; i < 1000; i++) c.request(`${'x'.repeat(5000)}${i}`, 100, false, T0 + i);
    assert.equal(c.remembered, 100);
    assert.equal(c.query(T0, T0 + 10_000, T0 + 10_000).count, 1000);
  });
});

describe('the gateway reports conversations through its metrics API', () => {
  let up: Upstream;
  let up2: Upstream | undefined;
  let gw: RunningGateway;
  beforeEach(async () => {
    // The upstream fails the requests whose body says so.
    up = await startUpstream('v1', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(Buffer.concat(chunks).toString() === 'fail' ? 503 : 200, {
          'content-type': 'application/json',
        });
        res.end('{}');
      });
    });
    gw = await gateway({ config: { agents: { bot: { stable: 'v1', versions: { v1: up.url } } } } });
  });
  afterEach(async () => {
    await gw.close();
    await up.close();
    await up2?.close();
    up2 = undefined;
  });

  it('per conversation counts beside the request counts, and a late outcome in its request second', async () => {
    const since = Date.now();
    await invoke(gw, 'bot', 'a');
    await invoke(gw, 'bot', 'a', 'fail');
    const last = await invoke(gw, 'bot', 'a', 'fail');
    await invoke(gw, 'bot', 'b');
    await invoke(gw, 'bot'); // no session id: a conversation of one
    const requestSecond = Math.floor(Date.now() / 1000);
    // The outcome arrives in a later second than its request; it counts in the request's.
    await waitFor('the next second', () =>
      Math.floor(Date.now() / 1000) > requestSecond ? true : undefined,
    );
    const res = await fetch(`${gw.url}/v1/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ requestId: last.requestId, taskSuccess: false }),
    });
    assert.equal(res.status, 200);
    const read = async (until: number) => {
      const r = await fetch(`${gw.url}/v1/admin/agents/bot/metrics?since=${since}&until=${until}`, {
        headers: adminHeaders(),
      });
      return ((await r.json()) as { versions: Record<string, VersionMetrics> }).versions.v1;
    };
    const v1 = await read((requestSecond + 1) * 1000);
    assert.equal(v1.requests, 5);
    assert.equal(v1.errors, 2);
    const c = v1.conversations!;
    assert.deepEqual([c.count, c.errored, c.tasked, c.failedTask], [3, 1, 1, 1]);
    // "a": 3 requests, 2 errors; "b": 1 and 0; the session-less one: 1 and 0.
    assert.deepEqual([c.requestsSq, c.errorsSq, c.errorsRequests], [9 + 1 + 1, 4, 6]);
    assert.equal(v1.taskSuccess.total, 1, 'the outcome counts in its request second');
  });

  it('a new split starts every conversation afresh: a stage holds only its own turns', async () => {
    up2 = await startUpstream('v2', (_req, res) => res.end('{}'));
    await gw.close();
    gw = await gateway({
      config: { agents: { bot: { stable: 'v1', versions: { v1: up.url, v2: up2.url } } } },
    });
    for (let i = 0; i < 4; i++) await invoke(gw, 'bot', 'long-lived', 'fail');
    // Windows are read by the second: the stage starts in a later one than the history.
    const historySecond = Math.floor(Date.now() / 1000);
    await waitFor('the next second', () =>
      Math.floor(Date.now() / 1000) > historySecond ? true : undefined,
    );
    await putSplit(gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 1, leaseMs: 60_000 });
    const stageStart = Date.now();
    const r = await invoke(gw, 'bot', 'long-lived', 'fail');
    assert.equal(r.version, 'v1', 'the session stays on the stable at 1%');
    const res = await fetch(
      `${gw.url}/v1/admin/agents/bot/metrics?since=${stageStart}&until=${Date.now() + 1000}`,
      { headers: adminHeaders() },
    );
    const c = ((await res.json()) as { versions: Record<string, VersionMetrics> }).versions.v1.conversations!;
    // Its fifth turn is the first of a new conversation of the stage: 1^2, not 5^2 - 4^2.
    assert.deepEqual([c.count, c.requestsSq, c.errorsSq, c.errorsRequests], [1, 1, 1, 1]);
  });
});

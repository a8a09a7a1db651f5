// Judge v5: a stage before the last may also pass on the means of its conversations' own rates and
// scores (each conversation one unit), so that one user whose every turn fails on the canary does
// not hold a healthy canary in stage 1 until the deadline withdraws it. The last stage before 100%
// keeps the rollout's test alone, and the fail side is judge v4's.
import assert from 'node:assert/strict';
import { judgeStatistical, type MetricResult, type Verdict } from '../src/analysis';
import { judgeAcrossStages } from '../src/analysis/evidence';
import { seededRandom } from '../src/demo/random';
import { ConversationCounters } from '../src/gateway/conversations';
import { VersionSeries } from '../src/gateway/metrics-store';
import type { MetricsWindow, VersionMetrics } from '../src/metrics/types';
import { analysisWith } from './analysis-fixtures';

const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

/** Conversations through the gateway's own counters: `turns` each, errors at `errorRate` (1: all). */
function served(name: string, conversations: { turns: number; errorRate: number }[], seed: number) {
  const rand = seededRandom(seed);
  const series = new VersionSeries('bot', name, 6 * 3600);
  let t = T0;
  conversations.forEach((c, i) => {
    for (let turn = 0; turn < c.turns; turn++) {
      t += 50;
      const error = rand() < c.errorRate;
      const latency = 200 + 200 * rand();
      series.recordRequest(latency, error, t);
      series.conversations.request(`${name}-${i}`, latency, error, t);
    }
  });
  return series.query(T0, T0 + HOUR, T0 + HOUR);
}
const many = (n: number, turns: number, errorRate: number) =>
  Array.from({ length: n }, () => ({ turns, errorRate }));
const windowOf = (stable: VersionMetrics, canary: VersionMetrics): MetricsWindow => ({
  agent: 'bot',
  since: T0,
  until: T0 + HOUR,
  stable,
  canary,
});
const errors = (v: Verdict): MetricResult => v.metrics.find((m) => m.metric === 'error_rate')!;

describe("judge v5: early stages may pass on the conversations' means", () => {
  const analysis = analysisWith({ metrics: ['error_rate'] });
  // Stage 1 at 5%: 120 canary conversations of 10 turns at 1%, one of them failing on all 40 turns.
  const stable = served('v1', many(2_400, 10, 0.01), 1);
  const canary = served('v2', [...many(119, 10, 0.01), { turns: 40, errorRate: 1 }], 2);
  const w = windowOf(stable, canary);

  it('one user failing every turn on the canary does not hold stage 1 (judge v4 held it)', () => {
    const v4 = judgeStatistical(w, analysis, true);
    const held = errors(judgeAcrossStages(v4, undefined, analysis, 4, true).verdict);
    assert.equal(held.status, 'inconclusive', held.reason);
    const v5 = judgeStatistical(w, analysis, true, true);
    const r = errors(v5);
    assert.equal(r.stats?.meanLlr?.length, 4);
    assert.ok(r.stats!.meanLlr![2] < Math.log(0.05), `ln LR at 4x ${r.stats!.meanLlr![2]}`);
    const passed = errors(judgeAcrossStages(v5, undefined, analysis, 4, true, true).verdict);
    assert.equal(passed.status, 'pass', passed.reason);
    assert.match(passed.reason, /not worse by \+4 points of errors/);
  });

  it('the last stage before 100% keeps the rollout test alone, and a regression on every conversation never passes by means', () => {
    const v5 = judgeStatistical(w, analysis, true, true);
    const last = errors(judgeAcrossStages(v5, undefined, analysis, 1, true, true).verdict);
    assert.notEqual(last.status, 'pass', last.reason);
    // +8 points on every canary conversation: the means say worse, and the fail side fails it.
    const bad = served('v2', many(120, 10, 0.09), 3);
    const vb = judgeStatistical(windowOf(stable, bad), analysis, true, true);
    assert.ok(errors(vb).stats!.meanLlr![2] > 0);
    const r = errors(judgeAcrossStages(vb, undefined, analysis, 4, true, true).verdict);
    assert.notEqual(r.status, 'pass', r.reason);
  });

  it("quality is judged on the conversations' mean scores: one long bad conversation is one unit", () => {
    const scored = (name: string, convs: { turns: number; score: number }[]) => {
      const series = new VersionSeries('bot', name, 6 * 3600);
      let t = T0;
      convs.forEach((c, i) => {
        for (let turn = 0; turn < c.turns; turn++) {
          t += 50;
          series.recordRequest(300, false, t);
          series.conversations.request(`${name}-${i}`, 300, false, t);
          const score = turn % 2 === 0 ? c.score : Math.min(1, c.score + 0.2);
          series.recordOutcome({ qualityScore: score }, t);
          series.conversations.outcome(`${name}-${i}`, { qualityScore: score }, t);
        }
      });
      return series.query(T0, T0 + HOUR, T0 + HOUR);
    };
    const q = analysisWith({ metrics: ['quality_score'] });
    const stableQ = scored(
      'v1',
      Array.from({ length: 400 }, () => ({ turns: 8, score: 0.7 })),
    );
    // 100 canary conversations like the stable's, and one of 300 turns that scores 0 throughout.
    const canaryQ = scored('v2', [
      ...Array.from({ length: 100 }, () => ({ turns: 8, score: 0.7 })),
      { turns: 300, score: 0 },
    ]);
    const wq = windowOf(stableQ, canaryQ);
    const quality = (v: Verdict) => v.metrics.find((m) => m.metric === 'quality_score')!;
    // Judge v4 weighs its 300 scores: the mean of all scores drops by a fifth.
    assert.ok(quality(judgeStatistical(wq, q, true)).canary! < 0.65);
    const r = quality(judgeStatistical(wq, q, true, true));
    assert.notEqual(r.status, 'fail', r.reason);
    assert.match(r.stats!.detail, /conversations' own means 0\.79\d* vs 0\.8 in 101 vs 400 conversations/);
  });

  it("the gateway keeps each conversation's own rate and mean score, adding up by second", () => {
    const c = new ConversationCounters(3600);
    // "a": error, ok, error (2/3) over two seconds; "b": ok (0); scores of "a": 1 then 0 (mean 0.5).
    c.request('a', 100, true, T0);
    c.request('a', 100, false, T0 + 10);
    c.request('b', 100, false, T0 + 20);
    c.request('a', 100, true, T0 + 1_500);
    c.outcome('a', { taskSuccess: false, qualityScore: 1 }, T0 + 30);
    c.outcome('a', { taskSuccess: true, qualityScore: 0 }, T0 + 1_600);
    const whole = c.query(T0, T0 + 2_000, T0 + 2_000);
    const first = c.query(T0, T0 + 1_000, T0 + 2_000);
    const second = c.query(T0 + 1_000, T0 + 2_000, T0 + 2_000);
    const close = (a: number | undefined, b: number) =>
      assert.ok(Math.abs((a ?? NaN) - b) < 1e-12, `${a} vs ${b}`);
    close(whole.errorRateSum, 2 / 3);
    close(whole.errorRateSq, 4 / 9);
    close(whole.failureRateSum, 1 / 2);
    close(whole.failureRateSq, 1 / 4);
    assert.equal(whole.scored, 1);
    close(whole.qualityMeanSum, 0.5);
    close(whole.qualityMeanSq, 0.25);
    close((first.errorRateSum ?? 0) + (second.errorRateSum ?? 0), 2 / 3);
    close((first.qualityMeanSq ?? 0) + (second.qualityMeanSq ?? 0), 0.25);
  });
});

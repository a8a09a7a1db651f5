// The shadow stage's preference test (src/analysis/preference.ts), without a server: its error bounds
// checked by simulation with a look after every pair, and the verdicts people read.
import assert from 'node:assert/strict';
import { judgePreference, preferenceTest, MIN_DECIDED_PAIRS } from '../src/analysis/preference';
import { judge } from '../src/analysis';
import { judgeShadowStage, weightedAnalysis } from '../src/analysis/shadow';
import { seededRandom } from '../src/demo/random';
import { analysisWith, healthy, version, windowOf } from './analysis-fixtures';

/** Share of simulated runs that ever fail / ever pass within `maxPairs` decided pairs. */
function simulate(p: number, runs: number, maxPairs: number, minEffect: number, alpha: number, beta: number) {
  const rand = seededRandom(20261205 + Math.round(p * 1000));
  let failed = 0;
  let passed = 0;
  for (let r = 0; r < runs; r++) {
    let wins = 0;
    let losses = 0;
    for (let i = 0; i < maxPairs; i++) {
      if (rand() < p) wins++;
      else losses++;
      // A look after every pair: the bound must hold however often the judge looks.
      const t = preferenceTest({ wins, losses, ties: 0 }, minEffect, alpha, beta);
      if (t.status === 'fail') {
        failed++;
        break;
      }
      if (t.status === 'pass') {
        passed++;
        break;
      }
    }
  }
  return { failed: failed / runs, passed: passed / runs };
}

describe('preference: sequential sign test on shadow pairs', () => {
  const alpha = 0.05;
  const beta = 0.05;
  const minEffect = 0.1;

  it('fails a canary as good as the stable at most alpha of the time, however often it looks', () => {
    const { failed, passed } = simulate(0.5, 2000, 600, minEffect, alpha, beta);
    assert.ok(failed <= alpha, `false-fail rate ${failed} above ${alpha}`);
    // And it does decide: most equal canaries pass within 600 decided pairs.
    assert.ok(passed > 0.6, `only ${passed} of equal canaries passed`);
  });

  it('passes a canary worse by minEffect at most beta of the time, however often it looks', () => {
    const { passed, failed } = simulate(0.5 - minEffect, 2000, 600, minEffect, alpha, beta);
    assert.ok(passed <= beta, `false-pass rate ${passed} above ${beta}`);
    assert.ok(failed > 0.5, `a canary worse by minEffect failed only ${failed} of the time`);
  });

  it('fails a clearly worse canary within a few dozen pairs', () => {
    const { failed } = simulate(0.2, 500, 60, minEffect, alpha, beta);
    assert.ok(failed > 0.9, `a canary preferred 20% of the time failed only ${failed} within 60 pairs`);
  });

  it('sets ties aside: any number of ties decides nothing', () => {
    const t = preferenceTest({ wins: 0, losses: 0, ties: 10_000 }, minEffect, alpha, beta);
    assert.equal(t.status, 'inconclusive');
    assert.equal(t.decided, 0);
    assert.equal(t.share, null);
    const r = judgePreference({ wins: 0, losses: 0, ties: 500 }, { minEffect, alpha, beta });
    assert.equal(r.status, 'inconclusive');
    assert.match(r.reason, /0 of 0 decided pairs, 500 ties/);
  });

  it('says nothing before MIN_DECIDED_PAIRS, whatever the split', () => {
    const few = MIN_DECIDED_PAIRS - 1;
    assert.equal(
      preferenceTest({ wins: 0, losses: few, ties: 0 }, minEffect, alpha, beta).status,
      'inconclusive',
    );
    assert.equal(preferenceTest({ wins: 0, losses: 20, ties: 0 }, minEffect, alpha, beta).status, 'fail');
  });

  it('reads as win/tie/loss, and waits (never passes) while the evaluator is unavailable', () => {
    const good = { wins: 200, losses: 180, ties: 40 };
    const pass = judgePreference(good, { minEffect, alpha, beta });
    assert.equal(pass.status, 'pass');
    assert.match(
      pass.reason,
      /^preference: not worse by 10 points: canary preferred in 200 of 380 decided pairs \(52.63%\), 40 ties$/,
    );
    assert.equal(pass.canarySamples, 380);
    const capped = judgePreference(good, {
      minEffect,
      alpha,
      beta,
      unavailable: 'evaluator over its budget',
    });
    assert.equal(capped.status, 'nodata');
    assert.match(capped.reason, /no data: evaluator over its budget/);
    // A clear loss still fails: the pairs already judged are evidence.
    const bad = judgePreference(
      { wins: 2, losses: 30, ties: 0 },
      { minEffect, alpha, beta, unavailable: 'down' },
    );
    assert.equal(bad.status, 'fail');
    assert.equal(judgePreference(undefined, { minEffect, alpha, beta }).status, 'nodata');
  });
});

describe('shadow stage judge: copies against served traffic, and the pairs', () => {
  const analysis = analysisWith({ minSamples: 50, metrics: ['error_rate', 'quality_score'] });
  const pairs = { wins: 200, ties: 40, losses: 180, mirrored: 500, skipped: 0 };
  const evaluator = {
    state: 'ok',
    unavailable: false,
    spend: { calls: 840, inputTokens: 1, outputTokens: 1 },
  };
  const shadowWindow = (copies: ReturnType<typeof healthy>, p = pairs) => ({
    ...windowOf(healthy(2000), {}),
    shadow: { canary: version('v2', copies), pairs: p },
    evaluator,
  });

  it('judges the copies and the pairs, never quality_score (no outcome joins a copy)', () => {
    const v = judgeShadowStage(shadowWindow(healthy(2000)), analysis, 20, judge);
    assert.deepEqual(
      v.metrics.map((m) => [m.metric, m.status]),
      [
        ['error_rate', 'pass'],
        ['preference', 'pass'],
      ],
    );
    assert.equal(v.verdict, 'pass');
    assert.deepEqual(v.shadow, {
      percent: 20,
      mirrored: 500,
      pairs: { judged: 420, wins: 200, ties: 40, losses: 180 },
    });
  });

  it('fails on copies that error, and on pairs the canary loses', () => {
    const erroring = judgeShadowStage(shadowWindow(healthy(2000, { errors: 400 })), analysis, 20, judge);
    assert.equal(erroring.metrics.find((m) => m.metric === 'error_rate')!.status, 'fail');
    const losing = judgeShadowStage(
      shadowWindow(healthy(2000), { wins: 5, ties: 3, losses: 60, mirrored: 70, skipped: 0 }),
      analysis,
      20,
      judge,
    );
    assert.equal(losing.verdict, 'fail');
    assert.match(losing.reason, /preference: worse than stable: canary preferred in 5 of 65 decided pairs/);
  });

  it('waits, never passes, while the evaluator is over its budget or there is none', () => {
    const capped = judgeShadowStage(
      {
        ...shadowWindow(healthy(2000)),
        evaluator: {
          ...evaluator,
          state: 'over budget',
          unavailable: true,
          reason: 'evaluator over its budget of 1000 tokens per day',
        },
      },
      analysis,
      20,
      judge,
    );
    assert.equal(capped.verdict, 'inconclusive');
    assert.match(capped.reason, /preference: no data: evaluator over its budget/);
    const { evaluator: _e, ...without } = shadowWindow(healthy(2000));
    const none = judgeShadowStage(without, analysis, 20, judge);
    assert.equal(none.verdict, 'inconclusive');
    assert.match(none.reason, /no evaluator judges the pairs \(the gateway config's agents\.bot\.evaluate\)/);
  });

  it('weighted stages never judge preference', () => {
    const a = { ...analysisWith({ minSamples: 50 }), metrics: ['error_rate', 'preference'] as const };
    assert.deepEqual(weightedAnalysis({ ...a, metrics: [...a.metrics] }).metrics, ['error_rate']);
  });
});

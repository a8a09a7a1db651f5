// Evidence carried across stages (policy rules 3), the graduated passes, the plain-word verdicts and
// the per-stage forecast. Reference values are computed from the formulas written out here, not by
// the code under test.
import assert from 'node:assert/strict';
import { judgeStatistical } from '../src/analysis';
import { DISPERSION, judgeAcrossStages, passMultiple, rolloutAlpha } from '../src/analysis/evidence';
import { forecast } from '../src/analysis/forecast';
import { resolvePlan } from '../src/plan';
import { analysisWith, healthy, windowOf } from './analysis-fixtures';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const errOf = (v: ReturnType<typeof judgeStatistical>) => v.metrics.find((m) => m.metric === 'error_rate')!;

describe('evidence across stages', () => {
  const a = analysisWith({ metrics: ['error_rate'] });

  it('the stage verdict carries the share-test ln LR at each multiple (reference value)', () => {
    // Canary 15/300 errors, stable 57/5700, minEffect 0.01, multiple 4 (+4 points):
    // pooled = 72/6000 = 0.012, pi0 = 300/6000 = 0.05, stable rate under H1 = max(0.012 - 0.05*0.04,
    // 0.012/4) = 0.01, canary rate 0.05, pi1 = 300*0.05 / (300*0.05 + 5700*0.01) = 15/72.
    // ln LR = 15 ln(pi1/pi0) + 57 ln((1-pi1)/(1-pi0)) = 11.014416597346777.
    const v = judgeStatistical(windowOf(healthy(5700, { errors: 57 }), healthy(300, { errors: 15 })), a);
    const stats = errOf(v).stats!;
    close(stats.llr[2], 11.014416597346777, 1e-9);
    assert.equal(stats.canaryBad, 15);
  });

  it('adds the stages ln LRs, and fails against one alpha per metric for the rollout', () => {
    const s1 = judgeStatistical(windowOf(healthy(5700, { errors: 57 }), healthy(300, { errors: 15 })), a);
    const first = judgeAcrossStages(s1, undefined, a, 4);
    const s2 = judgeStatistical(windowOf(healthy(5700, { errors: 57 }), healthy(300, { errors: 15 })), a);
    const second = judgeAcrossStages(s2, first.evidence, a, 4);
    const l1 = errOf(s1).stats!.llr;
    second.evidence.error_rate!.llr.forEach((x, i) => close(x, l1[i] + errOf(s2).stats!.llr[i], 1e-9));
    assert.equal(second.evidence.error_rate!.canaryBad, 30);
    // Rollout alpha: 0.01 / 1 metric, 90% to the comparison (error_rate has a 5% guardrail).
    close(rolloutAlpha(a, 'error_rate').comparison, 0.009);
    // Fail bound ln(1/0.009) = 4.70; mixture 0.2/0.2/0.4/0.2 of exp(llr / 1.75).
    const mix = (llr: number[]) =>
      Math.log([0.2, 0.2, 0.4, 0.2].reduce((s, w, i) => s + w * Math.exp(llr[i] / DISPERSION), 0));
    assert.equal(first.verdict.verdict, mix(l1) >= Math.log(1 / 0.009) ? 'fail' : 'inconclusive');
    assert.equal(second.verdict.verdict, 'fail');
    assert.match(second.verdict.reason, /error_rate: worse: 5% errors against 1% on stable/);
  });

  it('a baseline that moves between stages is not a regression (stages are not pooled)', () => {
    // Stage 1 (5%): both 1% errors. Stage 2 (50%): a busy hour, both 3%.
    const s1 = healthy(19_000, { errors: 190 });
    const c1 = healthy(1000, { errors: 10 });
    const s2 = healthy(10_000, { errors: 300 });
    const c2 = healthy(10_000, { errors: 300 });
    const first = judgeAcrossStages(judgeStatistical(windowOf(s1, c1), a), undefined, a, 2);
    const second = judgeAcrossStages(judgeStatistical(windowOf(s2, c2), a), first.evidence, a, 1);
    assert.notEqual(second.verdict.verdict, 'fail', second.verdict.reason);
    // The same counts pooled into one window look like a canary with 2.8% against 1.7% errors.
    const pooled = windowOf(healthy(29_000, { errors: 490 }), healthy(11_000, { errors: 310 }));
    assert.equal(errOf(judgeStatistical(pooled, a)).status, 'fail');
  });

  it('graduated: 4x, 2x, then the plan minEffect itself before 100%', () => {
    const plan = resolvePlan({ agent: 'bot', stable: 'v1', canary: 'v2' });
    assert.deepEqual(
      [0, 1, 2].map((i) => passMultiple(plan, i)),
      [4, 2, 1],
    );
    // A canary half a point worse (too little to fail) passes a stage that must rule out +4 points,
    // not yet one that must rule out +1.
    const v = judgeStatistical(windowOf(healthy(95_000), healthy(5000, { errors: 75 })), a);
    assert.equal(judgeAcrossStages(v, undefined, a, 4).verdict.metrics[0].status, 'pass');
    assert.notEqual(judgeAcrossStages(v, undefined, a, 1).verdict.metrics[0].status, 'pass');
  });
});

describe('verdicts in plain words', () => {
  const a = analysisWith({});

  it('too few samples, with the count and the minimum', () => {
    const v = judgeStatistical(windowOf(healthy(5000), healthy(24)), a);
    assert.equal(errOf(v).reason, 'error_rate: too few samples (24 of 100 on the canary)');
  });

  it('a failing stable is "check the upstreams", not a rollback with a meaningless ratio', () => {
    const v = judgeStatistical(windowOf(healthy(1000, { errors: 990 }), healthy(200, { errors: 199 })), a);
    const err = errOf(v);
    assert.equal(err.status, 'inconclusive');
    assert.match(
      err.reason,
      /stable is failing too \(99% errors on stable, 99.5% on the canary\): check the upstreams/,
    );
    assert.notEqual(v.verdict, 'fail');
    // Across stages too: the comparison is blocked, the guardrail does not fire.
    assert.notEqual(judgeAcrossStages(v, undefined, a, 4).verdict.verdict, 'fail');
  });

  it('worse: the canary value against the stable one; statistics kept in stats.detail', () => {
    const v = judgeStatistical(windowOf(healthy(20_000, { errors: 150 }), healthy(1000, { errors: 158 })), a);
    assert.equal(errOf(v).reason, 'error_rate: worse: 15.8% errors against 0.75% on stable');
    assert.match(errOf(v).stats!.detail, /LR .*p=.*errors 158\/1000 vs 150\/20000/);
  });
});

describe('forecast (validate/start --rps)', () => {
  const plan = resolvePlan({ agent: 'bot', stable: 'v1', canary: 'v2' });

  it('at 100 requests/s every stage decides in its window: no warning', () => {
    const f = forecast(plan, 100);
    assert.deepEqual(f.warnings, []);
    // Stage 1 waits for 100 canary outcomes older than the 30m feedback horizon (20 s of them at
    // 5 requests/s), checked on the minute: 31m; then the windows.
    assert.equal(f.totalMs, (31 + 60 + 120) * 60_000);
  });

  it('counts the wait for data: minSamples, and outcomes older than the feedback horizon', () => {
    const f = forecast(plan, 1);
    const task = f.stages[0].metrics.find((m) => m.metric === 'task_success_rate')!;
    // 100 outcomes at 5% of 1 request/s (2,000 s) after the 30m horizon.
    assert.equal(task.dataMs, 30 * 60_000 + 2_000_000);
    const errors = f.stages[0].metrics.find((m) => m.metric === 'error_rate')!;
    assert.equal(errors.dataMs, 2_000_000);
    // Stage 2's read begins 30m before it, at stage 1's 5% (90 outcomes), then 10 more at 25%.
    const task2 = f.stages[1].metrics.find((m) => m.metric === 'task_success_rate')!;
    assert.equal(task2.dataMs, 30 * 60_000 + 40_000);
    assert.equal(f.stages[0].expectedMs, 64 * 60_000);
  });

  it('at 1 request/s stage 1 needs longer than 30m: a warning with concrete fixes', () => {
    const f = forecast(plan, 1);
    assert.equal(f.stages[0].metrics[0].rulesOutText, '+4 points of errors');
    assert.equal(f.stages[2].metrics[0].rulesOutText, '+1 point of errors');
    assert.equal(f.warnings.length, 1);
    assert.match(
      f.warnings[0],
      /^stage 1 cannot rule out \+4 points of errors in 30m at 1 request\/s \(a healthy canary needs ~\d+m\): lengthen its observe to \d+m, or raise analysis.minEffect.error_rate to 0.0\d+/,
    );
    assert.ok(f.totalMs <= plan.progressDeadlineMs);
  });

  it('at 0.1 requests/s the deadline cannot hold: said so', () => {
    const f = forecast(plan, 0.1);
    assert.ok(f.warnings.some((w) => /over the progress deadline of 6h/.test(w)));
  });
});

// Judge v6: what the rollout keeps between checks and stages so that a healthy canary at 1 request/s
// is not withdrawn for evidence it already had. The feedback horizon's reads add up over stages
// (a later stage does not wait for minSamples of old-enough outcomes again); an early stage's pass,
// once its test crossed the bound, stays crossed in that stage (Ville's bound holds for "ever
// crossed"), but never in the last stage and never into the next stage.
import assert from 'node:assert/strict';
import { judgeStatistical, type MetricResult, type Verdict } from '../src/analysis';
import { judgeAcrossStages, type Evidence } from '../src/analysis/evidence';
import type { MetricsWindow } from '../src/metrics/types';
import { analysisWith, healthy, version, windowOf, type VersionSpec } from './analysis-fixtures';

const MIN = 60_000;
const of = (v: Verdict, metric: string): MetricResult => v.metrics.find((m) => m.metric === metric)!;

/** A window with a read of requests older than the 30 min horizon (the check's second read). */
function withSettled(w: MetricsWindow, stable: VersionSpec, canary: VersionSpec): MetricsWindow {
  return {
    ...w,
    settled: {
      horizonMs: 30 * MIN,
      since: w.since - 30 * MIN,
      until: w.until - 30 * MIN,
      stable: version('v1', stable),
      canary: version('v2', canary),
    },
  };
}

describe('judge v6: evidence kept between checks and stages', () => {
  const analysis = analysisWith({ metrics: ['task_success_rate'] });
  const judge6 = (w: MetricsWindow) => judgeStatistical(w, analysis, true, true, true);

  it("adds the stages' reads of old-enough outcomes: a later stage does not wait for minSamples again", () => {
    // Stage 1 ended with 60 canary outcomes older than the horizon; stage 2's first read has 50.
    const stage1 = judge6(
      withSettled(
        windowOf(healthy(8000), healthy(2000)),
        { successes: 570, total: 600 },
        { successes: 57, total: 60 },
      ),
    );
    const s1 = judgeAcrossStages(stage1, undefined, analysis, 2, true, true, true);
    assert.match(of(s1.verdict, 'task_success_rate').reason, /waiting for feedback/);
    assert.deepEqual(s1.evidence.task_success_rate!.settled, {
      canary: { sum: 57, n: 60 },
      stable: { sum: 570, n: 600 },
    });
    const w2 = withSettled(
      windowOf(healthy(8000), healthy(8000)),
      { successes: 950, total: 1000 },
      { successes: 48, total: 50 },
    );
    // Judge v5 reads stage 2's 50 on their own: still waiting.
    const v5 = judgeAcrossStages(
      judgeStatistical(w2, analysis, true, true),
      s1.evidence,
      analysis,
      1,
      true,
      true,
    );
    assert.match(of(v5.verdict, 'task_success_rate').reason, /waiting for feedback/);
    // Judge v6 adds them to stage 1's 60: 110 of the 100 needed, 95% inside the 90% limit.
    const v6 = judgeAcrossStages(judge6(w2), s1.evidence, analysis, 1, true, true, true);
    assert.equal(
      of(v6.verdict, 'task_success_rate').status,
      'pass',
      of(v6.verdict, 'task_success_rate').reason,
    );
    assert.deepEqual(v6.evidence.task_success_rate!.settled!.canary, { sum: 105, n: 110 });
  });

  it('the summed reads keep the limit: a canary under it on its old-enough outcomes does not pass', () => {
    const low = { successes: 96, total: 110 }; // 87%, under the 90% limit, while the stable keeps it
    const v = judge6(
      withSettled(windowOf(healthy(8000), healthy(8000)), { successes: 950, total: 1000 }, low),
    );
    const r = of(judgeAcrossStages(v, undefined, analysis, 1, true, true, true).verdict, 'task_success_rate');
    assert.notEqual(r.status, 'pass', r.reason);
    assert.match(r.reason, /outside its limit/);
  });

  it("an early stage's pass stays once crossed, in that stage only; the last stage's does not", () => {
    const errors = analysisWith({ metrics: ['error_rate'] });
    const judge = (w: MetricsWindow) => judgeStatistical(w, errors, true, true, true);
    // Stage 1 at 5%: a clean canary rules out +4 points.
    const clean = judge(windowOf(healthy(19_000, { errors: 190 }), healthy(1000, { errors: 10 })));
    const first = judgeAcrossStages(clean, undefined, errors, 4, true, true, true);
    assert.equal(of(first.verdict, 'error_rate').status, 'pass');
    assert.equal(first.evidence.error_rate!.passed, true);
    // A later check of the same stage: more errors on the canary push the statistic back up.
    const noisy = judge(windowOf(healthy(20_000, { errors: 200 }), healthy(1050, { errors: 25 })));
    const again = (latest: Evidence | undefined, passAt: number) =>
      of(judgeAcrossStages(noisy, undefined, errors, passAt, true, true, true, latest).verdict, 'error_rate');
    assert.notEqual(again(undefined, 4).status, 'pass', 'on its own this window does not rule out +4 points');
    assert.equal(again(first.evidence, 4).status, 'pass', again(first.evidence, 4).reason);
    // The last stage decides the promise about minEffect on the window as it is now.
    assert.notEqual(again(first.evidence, 1).status, 'pass');
    // Judge v5 keeps no such memory.
    const v5 = judgeAcrossStages(noisy, undefined, errors, 4, true, true, false, first.evidence);
    assert.notEqual(of(v5.verdict, 'error_rate').status, 'pass');
    // Carried into the next stage (as `carried`), the flag is dropped: each stage crosses its own bound.
    const next = judgeAcrossStages(noisy, first.evidence, errors, 2, true, true, true);
    assert.equal(next.evidence.error_rate!.passed, undefined);
  });

  it('a fail is never held back by an earlier pass', () => {
    const errors = analysisWith({ metrics: ['error_rate'] });
    const judge = (w: MetricsWindow) => judgeStatistical(w, errors, true, true, true);
    const clean = judge(windowOf(healthy(19_000, { errors: 190 }), healthy(1000, { errors: 10 })));
    const first = judgeAcrossStages(clean, undefined, errors, 4, true, true, true);
    const broken = judge(windowOf(healthy(20_000, { errors: 200 }), healthy(2000, { errors: 200 })));
    const r = of(
      judgeAcrossStages(broken, undefined, errors, 4, true, true, true, first.evidence).verdict,
      'error_rate',
    );
    assert.equal(r.status, 'fail', r.reason);
  });
});

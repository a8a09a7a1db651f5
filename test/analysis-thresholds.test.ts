import assert from 'node:assert/strict';
import { judge, judgeThresholds, VerdictSchema } from '../src/analysis';
import { analysisWith, healthy, windowOf } from './analysis-fixtures';

const thresholds = (metric: string, rule: Record<string, number>) =>
  analysisWith({ judge: 'thresholds', metrics: [metric], thresholds: { [metric]: rule } });

describe('threshold judge', () => {
  describe('every rule kind, with its numbers in the reason', () => {
    it('maxAbsolute: error rate above the cap fails, at the cap passes', () => {
      const a = thresholds('error_rate', { maxAbsolute: 0.05 });
      const bad = judgeThresholds(windowOf(healthy(1000), healthy(200, { errors: 12 })), a);
      assert.equal(bad.verdict, 'fail');
      assert.equal(bad.metrics[0].status, 'fail');
      assert.equal(bad.metrics[0].canary, 0.06);
      assert.match(bad.metrics[0].reason, /error_rate: 0\.06 > max 0\.05/);
      const edge = judgeThresholds(windowOf(healthy(1000), healthy(200, { errors: 10 })), a);
      assert.equal(edge.verdict, 'pass');
      assert.match(edge.metrics[0].reason, /0\.05 <= max 0\.05/);
    });

    it('minAbsolute: task success below the floor fails', () => {
      const a = thresholds('task_success_rate', { minAbsolute: 0.9 });
      const bad = judgeThresholds(windowOf(healthy(1000), healthy(200, { successes: 170 })), a);
      assert.equal(bad.verdict, 'fail');
      assert.match(bad.metrics[0].reason, /task_success_rate: 0\.85 < min 0\.9/);
      const ok = judgeThresholds(windowOf(healthy(1000), healthy(200, { successes: 180 })), a);
      assert.equal(ok.verdict, 'pass');
    });

    it('maxRelativeIncrease: p99 latency above 1.5x stable fails, p99 read from the histogram', () => {
      const a = thresholds('p99_latency_ms', { maxRelativeIncrease: 1.5 });
      // Stable's histogram p99 is 800 ms (healthy fixture); the canary's slowest 2% are at 1300 ms.
      const slow = healthy(200, {
        latency: [
          [100, 100],
          [300, 96],
          [1300, 4],
        ],
      });
      const bad = judgeThresholds(windowOf(healthy(1000), slow), a);
      assert.equal(bad.verdict, 'fail');
      assert.equal(bad.metrics[0].stable, 800);
      assert.equal(bad.metrics[0].canary, 1300);
      assert.match(bad.metrics[0].reason, /1300 > 1\.5x stable 800 \(1200\)/);
      const ok = judgeThresholds(windowOf(healthy(1000), healthy(200)), a);
      assert.equal(ok.verdict, 'pass');
    });

    it('maxRelativeIncrease uses a reported p99 when the source gives one', () => {
      const a = thresholds('p99_latency_ms', { maxRelativeIncrease: 1.5 });
      const v = judgeThresholds(windowOf(healthy(1000, { p99: 400 }), healthy(200, { p99: 610 })), a);
      assert.equal(v.verdict, 'fail');
      assert.match(v.metrics[0].reason, /610 > 1\.5x stable 400 \(600\)/);
    });

    it('maxRelativeDecrease: quality more than 5% below stable fails', () => {
      const a = thresholds('quality_score', { maxRelativeDecrease: 0.05 });
      const worse = healthy(200, {
        quality: [
          [0.6, 80],
          [0.8, 80],
          [1, 40],
        ],
      });
      const bad = judgeThresholds(windowOf(healthy(1000), worse), a);
      assert.equal(bad.verdict, 'fail');
      assert.ok(Math.abs(bad.metrics[0].canary! - 0.76) < 1e-9);
      assert.match(bad.metrics[0].reason, /0\.76 < stable 0\.84 - 5% \(0\.798\)/);
    });

    it('a metric with several rules names the broken one', () => {
      const a = thresholds('error_rate', { maxAbsolute: 0.05, maxRelativeIncrease: 2 });
      const v = judgeThresholds(windowOf(healthy(1000), healthy(200, { errors: 5 })), a);
      assert.equal(v.verdict, 'fail');
      assert.match(v.metrics[0].reason, /0\.025 > 2x stable 0\.01 \(0\.02\)/);
      assert.doesNotMatch(v.metrics[0].reason, /max 0\.05/);
    });
  });

  describe('missing or thin data is never healthy', () => {
    it('under minSamples per version is nodata, and the verdict inconclusive', () => {
      const a = analysisWith({ judge: 'thresholds', minSamples: 100 });
      for (const [stableN, canaryN] of [
        [1000, 99],
        [99, 1000],
        [0, 0],
      ]) {
        const v = judgeThresholds(windowOf(healthy(stableN), healthy(canaryN)), a);
        assert.equal(v.verdict, 'inconclusive', `${stableN}/${canaryN}`);
        assert.ok(v.metrics.every((m) => m.status === 'nodata'));
        assert.match(
          v.metrics[0].reason,
          new RegExp(
            `too few samples \\(${Math.min(canaryN, stableN)} of 100 (on the canary|on stable|each)\\)`,
          ),
        );
      }
    });

    it('a canary with no traffic has no error rate (not 0) and does not pass', () => {
      const v = judgeThresholds(windowOf(healthy(1000), {}), analysisWith({ judge: 'thresholds' }));
      assert.equal(v.verdict, 'inconclusive');
      const err = v.metrics.find((m) => m.metric === 'error_rate')!;
      assert.equal(err.canary, null);
      assert.equal(err.status, 'nodata');
    });

    it('feedback metrics without feedback are nodata while request metrics pass', () => {
      const noFeedback = (n: number) => healthy(n, { total: 0, successes: 0, quality: [] });
      const v = judgeThresholds(
        windowOf(noFeedback(1000), noFeedback(500)),
        analysisWith({ judge: 'thresholds' }),
      );
      assert.equal(v.verdict, 'inconclusive');
      const status = Object.fromEntries(v.metrics.map((m) => [m.metric, m.status]));
      assert.deepEqual(status, {
        error_rate: 'pass',
        p99_latency_ms: 'pass',
        task_success_rate: 'nodata',
        quality_score: 'nodata',
      });
    });
  });

  describe('verdict', () => {
    it('passes only when every judged metric passes, fails when any fails', () => {
      const a = analysisWith({ judge: 'thresholds' });
      const pass = judgeThresholds(windowOf(healthy(2000), healthy(500)), a);
      assert.equal(pass.verdict, 'pass');
      assert.equal(pass.metrics.length, 4);
      VerdictSchema.parse(pass);
      const fail = judgeThresholds(windowOf(healthy(2000), healthy(500, { successes: 400 })), a);
      assert.equal(fail.verdict, 'fail');
      assert.match(fail.reason, /task_success_rate/);
      assert.doesNotMatch(fail.reason, /error_rate/);
    });

    it('judges only analysis.metrics', () => {
      const a = analysisWith({ judge: 'thresholds', metrics: ['error_rate', 'p99_latency_ms'] });
      const v = judgeThresholds(windowOf(healthy(2000), healthy(500, { successes: 0, quality: [] })), a);
      assert.equal(v.verdict, 'pass');
      assert.deepEqual(
        v.metrics.map((m) => m.metric),
        ['error_rate', 'p99_latency_ms'],
      );
    });

    it('judge() dispatches on analysis.judge', () => {
      const w = windowOf(healthy(2000), healthy(500));
      assert.equal(judge(w, analysisWith({ judge: 'thresholds' })).judge, 'thresholds');
      assert.equal(judge(w, analysisWith({})).judge, 'statistical');
    });
  });
});

import assert from 'node:assert/strict';
import { alphaSplit, judgeStatistical, judgeThresholds, predictDetection } from '../src/analysis';
import {
  bernoulliKl,
  bernoulliLlr,
  meanShiftLlr,
  proportionTest,
  shareTest,
  waldBernoulliAsn,
} from '../src/analysis/sequential';
import { histogramMoments, histogramQuantile, survivalAt } from '../src/analysis/values';
import { expectedLatencyHistogram, Rng } from '../bench/judge-sim';
import { analysisWith, healthy, windowOf } from './analysis-fixtures';

const close = (actual: number, expected: number, rel = 1e-9) =>
  assert.ok(
    Math.abs(actual - expected) <= rel * Math.max(1, Math.abs(expected)),
    `${actual} is not ${expected}`,
  );

// Reference values computed with scipy 1.17.1 / numpy 2.4 (python3), calls quoted next to each.
describe('statistics against scipy reference values', () => {
  it('Bernoulli log likelihood ratio', () => {
    // binom.logpmf(3, 200, 0.02) - binom.logpmf(3, 200, 0.01)
    close(bernoulliLlr(3, 200, 0.01, 0.02), 0.07942436326828917);
    // An event impossible under H0 is infinite evidence for H1, and the other way round.
    assert.equal(bernoulliLlr(1, 10, 0, 0.1), Infinity);
    assert.equal(bernoulliLlr(10, 10, 0.5, 1), 10 * Math.log(2));
    assert.equal(bernoulliLlr(9, 10, 0.5, 1), -Infinity);
  });

  it('Bernoulli KL divergence', () => {
    // scipy.special.rel_entr(0.02, 0.01) + rel_entr(0.98, 0.99)
    close(bernoulliKl(0.02, 0.01), 0.00391361957646125);
  });

  it('share test: binomial LLR of the canary share of bad events', () => {
    // pi1 = 1000*0.02/(1000*0.02 + 19000*0.01); binom.logpmf(7, 47, pi1) - binom.logpmf(7, 47, 0.05)
    const t = shareTest(7, 1000, 40, 19000, 0.02, 0.01);
    close(t.pi0, 0.05);
    close(t.pi1, 0.09523809523809523);
    close(t.llr, 2.558892547956315);
  });

  it('proportion test: H1 rates from the pooled rate', () => {
    // pooled = 47/20000; r1s = max(pooled - 0.05*0.005, pooled/4); r1c = r1s + 0.005
    // pi1 = 1000*r1c/(1000*r1c + 19000*r1s); binom.logpmf(7, 47, pi1) - binom.logpmf(7, 47, 0.05)
    const t = proportionTest(7, 1000, 40, 19000, 0.005);
    close(t.pi1, 0.15106382978723404);
    close(t.llr, 3.240636854170803);
  });

  it("Wald's expected sample size of the SPRT (the benchmark's reference)", () => {
    // kl = rel_entr(p1, p0) + rel_entr(1-p1, 1-p0)
    // ((1-b)*log((1-b)/a) + b*log(b/(1-a))) / kl with a=0.01, b=0.05
    close(waldBernoulliAsn(0.01, 0.02, 0.01, 0.05), 1067.272602390317);
    close(waldBernoulliAsn(0.01, 0.05, 0.01, 0.05), 101.15740355776643);
  });

  it('Gaussian LLR of a mean shift', () => {
    // norm.logpdf(0.031, 0.02, sqrt(0.00041)) - norm.logpdf(0.031, 0, sqrt(0.00041))
    close(meanShiftLlr(0.031, 0.00041, 0.02), 1.0243902439024395);
  });

  it('histogram quantiles and moments', () => {
    const h: [number, number][] = [
      [100, 50],
      [200, 30],
      [300, 10],
      [500, 6],
      [800, 3],
      [1300, 1],
    ];
    // x = np.repeat(values, counts); np.quantile(x, q, method='inverted_cdf') -> 800, 100, 300
    assert.equal(histogramQuantile(h, 0.99), 800);
    assert.equal(histogramQuantile(h, 0.5), 100);
    assert.equal(histogramQuantile(h, 0.9), 300);
    // x.mean() -> 207.0, np.var(x, ddof=1) -> 34596.969696969696
    const m = histogramMoments(h);
    close(m.mean, 207);
    close(m.variance, 34596.969696969696);
    // Tail share above x: exact at bucket values, log-linear in log x between them.
    close(survivalAt(h, 800), 0.01);
    close(survivalAt(h, 300), 0.1);
    // np.exp(np.interp(np.log(400), np.log([300, 500]), np.log([0.1, 0.04]))) -> 0.059688657242545885
    close(survivalAt(h, 400), 0.059688657242545885);
    // Towards an empty tail the log is undefined, so linear: np.interp(np.log(1000), np.log([800, 1300]), [0.01, 0])
    close(survivalAt(h, 1000), 0.005403914333388573);
    assert.equal(survivalAt(h, 1300), 0);
  });
});

describe('sequential tests keep their false-alarm rate under repeated looks', () => {
  // A stream of looks at cumulative counts: 1000 requests per look, 5% to the canary.
  function crossingRate(canaryRate: number, threshold: number, sequences: number, looks: number): number {
    const rng = new Rng(7);
    let crossed = 0;
    for (let s = 0; s < sequences; s++) {
      let cn = 0;
      let sn = 0;
      let cb = 0;
      let sb = 0;
      for (let k = 0; k < looks; k++) {
        const c = rng.binomial(1000, 0.05);
        cn += c;
        sn += 1000 - c;
        cb += rng.binomial(c, canaryRate);
        sb += rng.binomial(1000 - c, 0.01);
        if (proportionTest(cb, cn, sb, sn, 0.005).llr >= threshold) {
          crossed++;
          break;
        }
      }
    }
    return crossed / sequences;
  }

  it('A/A: P(ever LR >= 1/a) <= a over 100 looks; a real regression crosses', () => {
    const a = 0.05;
    const sequences = 1000;
    const aa = crossingRate(0.01, Math.log(1 / a), sequences, 100);
    // Binomial noise of 1000 sequences at rate a: 3 standard deviations.
    assert.ok(aa <= a + 3 * Math.sqrt((a * (1 - a)) / sequences), `A/A crossing rate ${aa}`);
    const regression = crossingRate(0.02, Math.log(1 / a), 200, 100);
    assert.ok(regression >= 0.9, `1% -> 2% crossing rate ${regression}`);
  });

  it('the whole judge: A/A fails at most alpha of the time over 60 looks; 1% -> 2% fails', () => {
    // One observed stage and one metric: the whole alpha of 0.2 goes to error_rate.
    const analysis = analysisWith({ alpha: 0.2, metrics: ['error_rate'] });
    const oneStage = { ...analysis, observedStages: 1 };
    const run = (canaryRate: number, sequences: number) => {
      const rng = new Rng(11);
      let failed = 0;
      for (let s = 0; s < sequences; s++) {
        const st = { requests: 0, errors: 0 };
        const ca = { requests: 0, errors: 0 };
        for (let k = 0; k < 60; k++) {
          const c = rng.binomial(600, 0.05);
          ca.requests += c;
          st.requests += 600 - c;
          ca.errors += rng.binomial(c, canaryRate);
          st.errors += rng.binomial(600 - c, 0.01);
          if (judgeStatistical(windowOf({ ...st }, { ...ca }), oneStage).verdict === 'fail') {
            failed++;
            break;
          }
        }
      }
      return failed / sequences;
    };
    const aa = run(0.01, 500);
    assert.ok(aa <= 0.2 + 3 * Math.sqrt((0.2 * 0.8) / 500), `A/A fail rate ${aa}`);
    assert.ok(run(0.02, 100) >= 0.9);
  });
});

/** healthy() with a fine latency histogram (5% buckets), as real sources give the statistical judge. */
function fine(n: number, overrides: Parameters<typeof healthy>[1] = {}) {
  return healthy(n, { latency: expectedLatencyHistogram(n, 1), ...overrides });
}

describe('statistical judge', () => {
  const a = analysisWith({});

  it('splits alpha over metrics and observed stages, 90/10 with guardrails', () => {
    assert.equal(a.observedStages, 3);
    const err = alphaSplit(a, 'error_rate');
    close(err.perMetric, 0.01 / 12);
    close(err.comparison, (0.9 * 0.01) / 12);
    close(err.guardrail, (0.1 * 0.01) / 12);
    // Latency has no absolute guardrail by default: the whole share goes to the comparison.
    close(alphaSplit(a, 'p99_latency_ms').comparison, 0.01 / 12);
  });

  it('passes a healthy canary with enough data, naming the evidence', () => {
    const v = judgeStatistical(windowOf(fine(100_000), fine(20_000)), a);
    assert.equal(v.verdict, 'pass', v.reason);
    assert.equal(v.judge, 'statistical');
    for (const m of v.metrics) {
      assert.equal(m.status, 'pass', m.reason);
      assert.ok(m.pValue !== undefined && m.pValue > a.alpha);
      assert.match(m.reason, /not worse by/);
      assert.doesNotMatch(m.reason, /LR|p=/);
    }
    assert.match(v.metrics[0].reason, /not worse by \+1 point of errors: 1% errors against 1% on stable/);
    // The numbers stay available for --verbose and --json.
    assert.match(v.metrics[0].stats!.detail, /errors 200\/20000 vs 1000\/100000/);
  });

  it('fails each metric on a clear regression, with p <= alpha and the numbers', () => {
    const cases: [string, Parameters<typeof healthy>[1], RegExp][] = [
      ['error_rate', { errors: 100 }, /error_rate: worse: 2% errors against 1% on stable$/],
      [
        'task_success_rate',
        { successes: 4250 },
        /task_success_rate: worse: task success 85% against 95% on stable/,
      ],
      [
        'p99_latency_ms',
        { latency: expectedLatencyHistogram(5000, 1.25) },
        /p99_latency_ms: worse: p99 1\d{3}ms against 9\d\dms on stable/,
      ],
      [
        'quality_score',
        {
          quality: [
            [0.6, 1500],
            [0.8, 2000],
            [1, 1500],
          ],
        },
        /quality_score: worse: quality 0\.8 against 0\.84 on stable/,
      ],
    ];
    for (const [metric, canary, reason] of cases) {
      const v = judgeStatistical(windowOf(fine(95_000), fine(5000, canary)), a);
      const m = v.metrics.find((x) => x.metric === metric)!;
      assert.equal(v.verdict, 'fail', `${metric}: ${v.reason}`);
      assert.equal(m.status, 'fail', m.reason);
      assert.match(m.reason, reason);
      assert.ok(m.pValue! <= a.alpha, `${metric} p=${m.pValue}`);
    }
  });

  it('a trivial difference below the minimum effect passes, it does not fail', () => {
    // 1.05% vs 1.00% errors over 200k canary requests: significant, but under minEffect 0.005.
    const v = judgeStatistical(windowOf(fine(1_000_000), fine(200_000, { errors: 2100 })), a);
    const err = v.metrics.find((m) => m.metric === 'error_rate')!;
    assert.equal(err.status, 'pass', err.reason);
  });

  it('judge v4: an absolute limit broken on both versions holds the stage; broken by the canary alone it fails', () => {
    // Stable and canary both at 8% errors: an upstream incident, not the canary's regression.
    const both = judgeStatistical(
      windowOf(healthy(20_000, { errors: 1600 }), healthy(2000, { errors: 160 })),
      a,
      true,
    );
    const err = both.metrics.find((m) => m.metric === 'error_rate')!;
    assert.equal(err.status, 'inconclusive', err.reason);
    assert.match(
      err.reason,
      /stable is beyond the limit too \(max 5%\): 8% errors against 8% on stable: check the upstreams/,
    );
    // The stable inside the cap, the canary at 8%: the canary broke it.
    const alone = judgeStatistical(
      windowOf(healthy(20_000, { errors: 800 }), healthy(2000, { errors: 160 })),
      a,
      true,
    );
    assert.equal(alone.metrics.find((m) => m.metric === 'error_rate')!.status, 'fail');
    // 7% of 200 requests is over the cap too, but 14 errors are not yet evidence of it.
    const thin = judgeStatistical(
      windowOf(healthy(4000, { errors: 280 }), healthy(200, { errors: 14 })),
      a,
      true,
    );
    assert.notEqual(thin.metrics.find((m) => m.metric === 'error_rate')!.status, 'fail');
    // A rollout started before judge-v4 keeps the rules it started with: the canary's limit alone.
    const before = judgeStatistical(
      windowOf(healthy(20_000, { errors: 1600 }), healthy(2000, { errors: 160 })),
      a,
    );
    assert.equal(before.metrics.find((m) => m.metric === 'error_rate')!.status, 'fail');
  });

  it('coarse latency buckets give inconclusive with a reason, not a guess', () => {
    const coarse = (n: number) => healthy(n, { latency: [[5000, n]] });
    const v = judgeStatistical(windowOf(coarse(50_000), coarse(5000)), a);
    const m = v.metrics.find((x) => x.metric === 'p99_latency_ms')!;
    assert.equal(m.status, 'inconclusive');
    assert.match(m.reason, /buckets too coarse/);
  });
});

describe('thin data is "not yet", never fail', () => {
  const a = analysisWith({});

  it('under minSamples is nodata, even with every canary request failing', () => {
    const all = { errors: 99, successes: 0, quality: [[0, 99]] as [number, number][] };
    const v = judgeStatistical(windowOf(healthy(10_000), healthy(99, all)), a);
    assert.equal(v.verdict, 'inconclusive');
    assert.ok(v.metrics.every((m) => m.status === 'nodata'));
  });

  it('one or two canary errors never fail a check, where the 2x threshold flips on one', () => {
    for (const canaryN of [100, 150, 300, 1000, 5000]) {
      for (const stableN of [100, 1000, 20_000]) {
        for (const stableErrors of [0, 1, 2]) {
          for (const canaryErrors of [1, 2]) {
            const w = windowOf(
              healthy(stableN, { errors: stableErrors }),
              healthy(canaryN, { errors: canaryErrors }),
            );
            const err = judgeStatistical(w, a).metrics.find((m) => m.metric === 'error_rate')!;
            assert.notEqual(
              err.status,
              'fail',
              `${canaryErrors}/${canaryN} vs ${stableErrors}/${stableN}: ${err.reason}`,
            );
          }
        }
      }
    }
    const flip = windowOf(healthy(2000, { errors: 0 }), healthy(100, { errors: 1 }));
    assert.equal(judgeThresholds(flip, analysisWith({ judge: 'thresholds' })).verdict, 'fail');
    assert.equal(judgeStatistical(flip, a).verdict, 'inconclusive');
  });

  it('even a zero-error guardrail needs three errors to fail a check', () => {
    const strict = analysisWith({ metrics: ['error_rate'], thresholds: { error_rate: { maxAbsolute: 0 } } });
    const at = (errors: number) =>
      judgeStatistical(windowOf(healthy(5000, { errors: 0 }), healthy(1000, { errors })), strict).metrics[0];
    assert.notEqual(at(2).status, 'fail', at(2).reason);
    assert.equal(at(3).status, 'fail');
    assert.match(at(3).reason, /beyond its limit \(max 0%\)/);
  });

  it('a source that reports only the p99, without histograms, leaves latency inconclusive', () => {
    const noHist = (n: number, p99: number) => healthy(n, { latency: [], p99 });
    const w = windowOf(noHist(50_000, 900), noHist(5000, 2000));
    w.stable.latencyMs.count = 50_000;
    w.canary.latencyMs.count = 5000;
    const m = judgeStatistical(w, a).metrics.find((x) => x.metric === 'p99_latency_ms')!;
    assert.equal(m.status, 'inconclusive');
    assert.match(m.reason, /no latency histogram/);
  });

  it('a healthy canary with little traffic is inconclusive, not pass', () => {
    const v = judgeStatistical(windowOf(healthy(3000), healthy(150)), a);
    assert.equal(v.verdict, 'inconclusive');
    assert.match(v.reason, /not yet/);
  });
});

describe('predictDetection', () => {
  const a = analysisWith({});

  it('gives every judged metric a detection and a pass estimate that shrink with traffic', () => {
    const slow = predictDetection({ analysis: a, stageWeight: 5, requestsPerSecond: 10 });
    const fast = predictDetection({ analysis: a, stageWeight: 5, requestsPerSecond: 100 });
    assert.deepEqual(
      slow.map((m) => m.metric),
      a.metrics,
    );
    slow.forEach((m, i) => {
      // Same canary requests needed, ten times faster, but never below failureLimit checks.
      assert.equal(m.detectCanaryRequests, fast[i].detectCanaryRequests);
      assert.ok(fast[i].detectMs < m.detectMs);
      assert.ok(fast[i].detectMs >= a.failureLimit * a.intervalMs);
      assert.ok(m.passCanaryRequests > 0 && m.passCanaryRequests < m.detectCanaryRequests);
    });
  });

  it('a larger minimum effect is detected sooner', () => {
    const base = predictDetection({ analysis: a, stageWeight: 25, requestsPerSecond: 10 })[0];
    const coarse = predictDetection({
      analysis: analysisWith({ minEffect: { error_rate: 0.04 } }),
      stageWeight: 25,
      requestsPerSecond: 10,
    })[0];
    assert.ok(coarse.detectCanaryRequests < base.detectCanaryRequests / 4);
  });
});

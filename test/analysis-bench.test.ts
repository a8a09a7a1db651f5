// Short, seeded runs of the judge simulation (bench/judge-sim.ts): the statistical judge's false
// rollback rate stays inside its bound on whole simulated rollouts, where threshold judges do not.
import assert from 'node:assert/strict';
import { predictDetection } from '../src/analysis';
import { METRICS } from '../src/analysis/types';
import { resolvePlan } from '../src/plan';
import {
  HEALTHY,
  runScenario,
  SCENARIOS,
  simulateRollout,
  summarize,
  type Outcome,
  type VersionModel,
} from '../bench/judge-sim';

/** P(X >= k) for X ~ Binomial(n, p). */
function binomTail(k: number, n: number, p: number): number {
  let below = 0;
  let logC = 0;
  for (let i = 0; i < k; i++) {
    if (i > 0) logC += Math.log((n - i + 1) / i);
    below += Math.exp(logC + i * Math.log(p) + (n - i) * Math.log1p(-p));
  }
  return 1 - below;
}

/** Largest count of false rollbacks in n rollouts that a rate of p explains (one-sided, 1%). */
function upperCount(n: number, p: number): number {
  let k = 0;
  while (binomTail(k + 1, n, p) > 0.01) k++;
  return k;
}

const scenario = (id: string) => SCENARIOS.findIndex((s) => s.id === id);

describe('judge simulation (short seeded runs)', function () {
  this.timeout(120_000);

  it('A/A over whole default rollouts at 100 rps: ours within alpha, Flagger-style not', () => {
    const runs = 40;
    const ours = runScenario('ours', scenario('aa'), 100, runs, 1);
    const flagger = runScenario('flagger', scenario('aa'), 100, runs, 1);
    // alpha = 0.01 per rollout: more than upperCount(40, 0.01) = 2 would reject it at the 1% level.
    assert.ok(ours.rolledBack <= upperCount(runs, 0.01), `ours: ${ours.rolledBack}/${runs} false rollbacks`);
    assert.ok(flagger.rolledBack >= 10, `flagger-style: ${flagger.rolledBack}/${runs}`);
    // Healthy and with enough traffic: promoted, not left paused for a person.
    assert.ok(ours.promoted >= runs * 0.9, `ours promoted ${ours.promoted}/${runs}`);
  });

  it('at 1 request/s a healthy canary is promoted unattended, errors 1% -> 2% do not reach 100%', () => {
    const healthy = runScenario('ours', scenario('aa'), 1, 12, 5);
    assert.ok(healthy.promoted >= 10, `promoted ${healthy.promoted}/12: ${JSON.stringify(healthy)}`);
    assert.equal(healthy.paused, 0, 'rules 3 never leave a rollout paused for a person');
    const bad = runScenario('ours', scenario('err_1_2'), 1, 12, 6);
    assert.equal(bad.promoted, 0, JSON.stringify(bad));
  });

  it('every regression of the benchmark is caught in the first stage at 100 rps', () => {
    for (const s of SCENARIOS.filter((x) => x.id !== 'aa')) {
      const r = runScenario('ours', scenario(s.id), 100, 10, 2);
      assert.equal(r.stage1RolledBack, r.runs, `${s.label}: ${JSON.stringify(r)}`);
    }
  });

  it('is repeatable: the same seed gives the same outcomes', () => {
    const a = runScenario('ours', scenario('err_1_2'), 10, 5, 3);
    const b = runScenario('ours', scenario('err_1_2'), 10, 5, 3);
    assert.deepEqual(a, b);
  });

  describe('each metric alone keeps its false-alarm bound under every-minute looks', () => {
    // One observed stage, one metric, alpha 0.2 and failureLimit 1: a rollback is the first crossing.
    const regressions: Record<(typeof METRICS)[number], Partial<VersionModel>> = {
      error_rate: { errorRate: 0.03 },
      p99_latency_ms: { latencyFactor: 1.5 },
      task_success_rate: { taskSuccessRate: 0.88 },
      quality_score: { qualityFactor: 0.93 },
    };
    for (const metric of METRICS) {
      it(metric, () => {
        const plan = resolvePlan({
          agent: 'sim',
          stable: 'v1',
          canary: 'v2',
          stages: [{ weight: 25, observe: '20m' }, { weight: 100 }],
          analysis: { metrics: [metric], alpha: 0.2, failureLimit: 1 },
        });
        const run = (canary: VersionModel, n: number, seed: number): Outcome[] =>
          Array.from({ length: n }, (_, i) =>
            simulateRollout({
              judge: 'ours',
              stable: HEALTHY,
              canary,
              requestsPerSecond: 10,
              seed: seed + i,
              plan,
              pausedPatienceMin: 60,
            }),
          );
        const aa = summarize(run(HEALTHY, 150, 100));
        assert.ok(aa.rolledBack <= upperCount(150, 0.2), `A/A ${aa.rolledBack}/150`);
        const bad = summarize(run({ ...HEALTHY, ...regressions[metric] }, 30, 500));
        assert.ok(bad.rolledBack >= 27, `regression caught ${bad.rolledBack}/30`);
      });
    }
  });

  it('predictDetection matches the simulated time to catch the minimum effect', () => {
    const plan = resolvePlan({
      agent: 'sim',
      stable: 'v1',
      canary: 'v2',
      stages: [{ weight: 5, observe: '10h' }, { weight: 100 }],
      progressDeadline: '11h',
      analysis: { metrics: ['error_rate'], failureLimit: 1 },
    });
    const [predicted] = predictDetection({ analysis: plan.analysis, stageWeight: 5, requestsPerSecond: 100 });
    const outcomes = Array.from({ length: 60 }, (_, i) =>
      simulateRollout({
        judge: 'ours',
        stable: HEALTHY,
        canary: { ...HEALTHY, errorRate: 0.02 },
        requestsPerSecond: 100,
        seed: 900 + i,
        plan,
      }),
    );
    const sim = summarize(outcomes);
    assert.equal(sim.rolledBack, 60);
    // Wald's approximation is of the mean; the stopping time is right-skewed, so the median is lower.
    const ratio = sim.medianRequests! / predicted.detectCanaryRequests;
    assert.ok(
      ratio > 0.6 && ratio < 1.25,
      `simulated median ${sim.medianRequests}, predicted ${predicted.detectCanaryRequests}`,
    );
  });
});

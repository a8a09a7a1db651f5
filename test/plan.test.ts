import assert from 'node:assert/strict';
import { DEFAULT_STAGES, PlanError, parseDuration, parsePlan, resolvePlan } from '../src/plan';

const base = { agent: 'support-bot', stable: 'v1.3.1', canary: 'v1.3.2' };

function problems(input: unknown): Record<string, string> {
  try {
    resolvePlan(input);
  } catch (err) {
    assert.ok(err instanceof PlanError, `expected a PlanError, got ${String(err)}`);
    return Object.fromEntries(err.problems.map((p) => [p.field, p.message]));
  }
  assert.fail('plan was accepted');
}

describe('plan', function () {
  it('fills in the documented defaults', function () {
    const plan = resolvePlan(base);
    assert.deepEqual(
      plan.stages.map((s) => [s.weight, s.observeMs / 60_000]),
      [
        [5, 30],
        [25, 60],
        [50, 120],
        [100, 0],
      ],
    );
    assert.deepEqual(plan.stages, DEFAULT_STAGES);
    assert.equal(plan.analysis.intervalMs, 60_000);
    // The statistical judge's fail is already a sequential decision; the thresholds judge's is one check.
    assert.equal(plan.analysis.failureLimit, 1);
    assert.equal(
      resolvePlan({ agent: 'a', stable: 'v1', canary: 'v2', analysis: { judge: 'thresholds' } }).analysis
        .failureLimit,
      3,
    );
    assert.equal(
      resolvePlan({ agent: 'a', stable: 'v1', canary: 'v2', analysis: { failureLimit: 2 } }).analysis
        .failureLimit,
      2,
    );
    assert.equal(plan.analysis.minSamples, 100);
    assert.equal(plan.progressDeadlineMs, 6 * 3_600_000);
    assert.deepEqual(plan.analysis.thresholds.error_rate, { maxAbsolute: 0.05, maxRelativeIncrease: 2 });
    assert.deepEqual(plan.analysis.thresholds.task_success_rate, {
      minAbsolute: 0.9,
      maxRelativeDecrease: 0.1,
    });
    assert.equal(plan.analysis.judge, 'statistical');
    assert.equal(plan.analysis.alpha, 0.01);
  });

  it('expands Flagger-style steps into stages ending at 100', function () {
    const plan = resolvePlan({ ...base, steps: { stepWeight: 10, maxWeight: 30, interval: '5m' } });
    assert.deepEqual(
      plan.stages.map((s) => [s.weight, s.observeMs]),
      [
        [10, 300_000],
        [20, 300_000],
        [30, 300_000],
        [100, 0],
      ],
    );
  });

  it('reads YAML with durations and fractional weights', function () {
    const plan = parsePlan(
      [
        'agent: support-bot',
        'stable: v1',
        'canary: v2',
        'stages:',
        '  - { weight: 0.5, observe: 1h30m }',
        '  - { weight: 100 }',
      ].join('\n'),
    );
    assert.deepEqual(plan.stages[0], { weight: 0.5, observeMs: 90 * 60_000 });
  });

  it('names each bad field with its reason', function () {
    // Field-by-field problems are all reported together...
    const shape = problems({
      ...base,
      agent: 'Support Bot',
      analysis: { interval: 'soon', failureLimit: 0 },
    });
    assert.match(shape['agent'], /lowercase/);
    assert.match(shape['analysis.interval'], /not a duration/);
    assert.match(shape['analysis.failureLimit'], />=\s*1|too small/i);
    // ...and so are the problems across fields.
    const across = problems({
      ...base,
      canary: base.stable,
      stages: [{ weight: 50, observe: '10m' }, { weight: 20, observe: '10m' }, { weight: 90 }],
    });
    assert.match(across['canary'], /must differ from stable/);
    assert.match(across['stages.1.weight'], /rise strictly/);
    assert.match(across['stages.2.weight'], /last stage must be 100/);
  });

  it('requires the last stage to be 100 and weights within (0, 100]', function () {
    assert.match(
      problems({ ...base, stages: [{ weight: 5, observe: '1m' }, { weight: 50 }] })['stages.1.weight'],
      /last stage must be 100/,
    );
    assert.match(
      problems({ ...base, stages: [{ weight: 0, observe: '1m' }, { weight: 100 }] })['stages.0.weight'],
      /above 0/,
    );
    assert.match(problems({ ...base, stages: [{ weight: 150 }] })['stages.0.weight'], /at most 100/);
    assert.match(
      problems({ ...base, stages: [{ weight: 5 }, { weight: 100 }] })['stages.0.observe'],
      /required/,
    );
  });

  it('refuses durations that are not positive, and thresholds out of range', function () {
    assert.match(problems({ ...base, progressDeadline: '0s' })['progressDeadline'], /positive/);
    assert.match(
      problems({ ...base, analysis: { thresholds: { error_rate: { maxAbsolute: 2 } } } })[
        'analysis.thresholds.error_rate.maxAbsolute'
      ],
      /proportion/,
    );
    assert.match(
      problems({ ...base, analysis: { thresholds: { p99_latency_ms: { maxRelativeIncrease: 0.5 } } } })[
        'analysis.thresholds.p99_latency_ms.maxRelativeIncrease'
      ],
      />= 1/,
    );
    assert.match(problems({ ...base, analysis: { alpha: 0.5 } })['analysis.alpha'], /0.2/);
  });

  it('refuses unknown fields rather than ignoring a typo', function () {
    const p = problems({ ...base, analysis: { intervall: '1m' } });
    assert.match(p['analysis'], /intervall/);
  });

  it('parses durations as people write them', function () {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration(250), 250);
    assert.throws(() => parseDuration('5 minutes'), /not a duration/);
  });
});

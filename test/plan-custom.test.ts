// The plan's custom metrics (analysis.custom): validated field by field with messages a team can act
// on (template variables, PromQL length, no credentials, what each judge needs), resolved with their
// defaults, absent from plans that have none (so older histories replay), and judged beside the
// built-ins with the rollout's alpha kept. The real-Prometheus half is in kube-prometheus-query.test.ts.
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import type { CheckOutcome } from '../workflows/policy';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { judge } from '../src/analysis';
import { judgeCustom, judgeWithCustom } from '../src/analysis/custom';
import { fetchWithCustom } from '../src/metrics/prometheus-custom';
import { MAX_QUERY_LENGTH } from '../src/metrics/prometheus-templates';
import {
  emptyVersionMetrics,
  MetricsConfigError,
  type MetricsQuery,
  type MetricsSource,
  type MetricsWindow,
} from '../src/metrics/types';
import { parsePlan, PlanError, planForWorkflow, resolvePlan } from '../src/plan';
import { FakeRouter, SteerableMetrics } from './fakes';

const COST = {
  name: 'costPerTask',
  kind: 'mean',
  direction: 'lower',
  minEffect: 0.01,
  unit: 'USD',
  query: {
    sum: 'sum(increase(agent_task_cost_usd_sum{version="{{version}}"}[{{window}}]))',
    count: 'sum(increase(agent_task_cost_usd_count{version="{{version}}"}[{{window}}]))',
    buckets: 'sum by (le) (increase(agent_task_cost_usd_bucket{version="{{version}}"}[{{window}}]))',
  },
};
const OVER = {
  name: 'overBudget',
  kind: 'proportion',
  direction: 'lower',
  thresholds: { maxAbsolute: 0.2 },
  query: {
    total:
      'sum(increase(agent_tasks_total{namespace="{{namespace}}",version=~"{{version_re}}"}[{{window}}]))',
    matching: 'sum(increase(agent_tasks_over_budget_total{version="{{version}}"}[{{window}}]))',
  },
};

const plan = (analysis: Record<string, unknown>) =>
  resolvePlan({ agent: 'support-bot', stable: 'v1', canary: 'v2', analysis });

function problems(analysis: Record<string, unknown>): Map<string, string> {
  try {
    plan(analysis);
  } catch (err) {
    assert.ok(err instanceof PlanError, String(err));
    const found = new Map<string, string>();
    for (const p of err.problems)
      found.set(p.field, [found.get(p.field), p.message].filter(Boolean).join(' | '));
    return found;
  }
  assert.fail('expected the plan to be refused');
}

describe('plan: analysis.custom (custom metrics by Prometheus query)', () => {
  it('resolves with the defaults filled in; a plan without custom metrics has no custom key', () => {
    const p = plan({
      custom: [
        COST,
        OVER,
        { ...OVER, name: 'tokensP99', kind: 'quantile', query: { buckets: COST.query.buckets } },
      ],
    });
    const [cost, over, tokens] = p.analysis.custom!;
    assert.equal(cost.minEffect, 0.01);
    assert.equal(over.minEffect, 0.01, 'proportion default');
    assert.equal(tokens.kind === 'quantile' && tokens.quantile, 0.99);
    assert.equal(tokens.minEffect, 0.1, 'quantile default: 10%');
    // The workflow's own gate accepts what the resolver made.
    assert.deepEqual(planForWorkflow(p), p);
    assert.equal('custom' in plan({}).analysis, false);
  });

  it('the example plan in deploy/kubernetes/example validates', () => {
    const file = join(__dirname, '..', 'deploy', 'kubernetes', 'example', 'plan.yaml');
    const p = parsePlan(readFileSync(file, 'utf8'), file);
    assert.deepEqual(
      p.analysis.custom!.map((m) => [m.name, m.kind, m.minEffect]),
      [
        ['costPerTask', 'mean', 0.005],
        ['overBudget', 'proportion', 0.01],
        ['tokensP90', 'quantile', 0.1],
      ],
    );
  });

  it('refuses bad fields, each named, all at once', () => {
    const found = problems({
      custom: [
        { ...COST, name: 'cost_per_task' },
        { ...OVER, name: 'error_rate' },
        { ...OVER, kind: 'ratio' },
        { ...OVER, direction: 'down' },
        { ...OVER, query: { ...OVER.query, total: 'sum(agent_tasks_total{version="{{verison}}"})' } },
        { ...OVER, query: { ...OVER.query, matching: 'sum(agent_tasks_over_budget_total)' } },
        {
          ...OVER,
          query: { ...OVER.query, matching: `sum(x{version="{{version}}"})${' '.repeat(MAX_QUERY_LENGTH)}` },
        },
        { ...OVER, query: { ...OVER.query, extra: 'up' } },
      ],
    });
    assert.match(found.get('analysis.custom.0.name')!, /lowerCamelCase/);
    assert.match(found.get('analysis.custom.1.name')!, /lowerCamelCase/);
    assert.match(found.get('analysis.custom.2.kind')!, /proportion, mean or quantile/);
    assert.match(found.get('analysis.custom.3.direction')!, /lower or higher/);
    assert.match(found.get('analysis.custom.4.query.total')!, /unknown placeholder \{\{verison\}\}/);
    assert.match(
      found.get('analysis.custom.5.query.matching')!,
      /must select the version with \{\{version\}\}/,
    );
    assert.match(found.get('analysis.custom.6.query.matching')!, /at most 4000 characters/);
    assert.match(found.get('analysis.custom.7.query')!, /extra/);
  });

  it('refuses credentials pasted into a query (the plan is kept in workflow history)', () => {
    for (const q of [
      'sum(x{version="{{version}}",token="abc"}) # Authorization: Bearer abc',
      'sum(x{version="{{version}}"}) api_key=1234',
      'sum(x{version="{{version}}",k="sk-abcdefghijklmnopqrstuvwx"})',
      'sum(x{version="{{version}}",u="https://me:hunter2@prom.example"})',
    ]) {
      const found = problems({ custom: [{ ...OVER, query: { ...OVER.query, total: q } }] });
      assert.match(
        found.get('analysis.custom.0.query.total') ?? '',
        /looks like it contains .*no credentials/,
        q,
      );
    }
  });

  it("checks what the plan's judge needs of each custom metric", () => {
    const stat = problems({
      custom: [
        { ...COST, minEffect: undefined },
        { ...COST, name: 'noSpread', query: { sum: COST.query.sum, count: COST.query.count } },
        { ...OVER, name: 'overBudget', thresholds: { maxAbsolute: 1.5 } },
      ],
    });
    assert.match(stat.get('analysis.custom.0.minEffect')!, /smallest change of the mean .*\(USD\)/);
    assert.match(stat.get('analysis.custom.1.query.buckets')!, /spread of the values/);
    assert.match(stat.get('analysis.custom.2.thresholds.maxAbsolute')!, /proportion and must be in \[0, 1\]/);
    const twice = problems({ custom: [OVER, COST, OVER] });
    assert.match(twice.get('analysis.custom.2.name')!, /"overBudget" is used twice/);
    const thr = problems({ judge: 'thresholds', custom: [{ ...COST, thresholds: undefined }] });
    assert.match(thr.get('analysis.custom.0.thresholds')!, /needs at least one rule/);
    // The thresholds judge needs no spread and no minimum effect.
    plan({
      judge: 'thresholds',
      custom: [{ ...COST, minEffect: undefined, thresholds: { maxAbsolute: 0.05 } }],
    });
  });
});

const window = (stable: [number, number, number], canary: [number, number, number]): MetricsWindow => {
  const v = (version: string, [count, sum, matching]: [number, number, number]) => ({
    ...emptyVersionMetrics(version),
    custom: {
      costPerTask: {
        count,
        sum,
        histogram: [
          [sum / count / 2, count / 2],
          [(sum / count) * 1.5, count / 2],
        ] as [number, number][],
      },
      overBudget: { count, matching, histogram: [] },
    },
  });
  return { agent: 'support-bot', since: 0, until: 60_000, stable: v('v1', stable), canary: v('v2', canary) };
};

describe('judge: custom metrics beside the built-ins', () => {
  const analysis = plan({ metrics: ['error_rate'], minSamples: 50, custom: [COST, OVER] }).analysis;

  it('fails a canary that costs more and overruns its budget, passes one that does not', () => {
    const worse = judgeWithCustom(judge, window([2000, 40, 100], [2000, 80, 600]), analysis);
    assert.equal(worse.verdict, 'fail');
    const by = new Map(worse.metrics.map((m) => [m.metric as string, m]));
    assert.equal(by.get('costPerTask')!.status, 'fail');
    assert.match(by.get('costPerTask')!.reason, /^costPerTask: worse, canary 0\.04 USD vs stable 0\.02 USD/);
    assert.equal(by.get('overBudget')!.status, 'fail');
    assert.equal(by.get('error_rate')!.status, 'nodata');

    const same = judgeWithCustom(judge, window([2000, 40, 100], [2000, 40, 100]), analysis);
    assert.equal(same.metrics.find((m) => (m.metric as string) === 'costPerTask')!.status, 'pass');
  });

  it('direction higher: a drop is the regression, a rise is not', () => {
    const score = { ...COST, name: 'costPerTask', direction: 'higher' as const, kind: 'mean' as const };
    const a = { ...analysis, custom: [{ ...analysis.custom![0], ...score, minEffect: 0.01 }] };
    const rise = judgeCustom(window([2000, 40, 100], [2000, 80, 100]), a, a.custom[0]);
    assert.notEqual(rise.status, 'fail', rise.reason);
    const drop = judgeCustom(window([2000, 80, 100], [2000, 40, 100]), a, a.custom[0]);
    assert.equal(drop.status, 'fail', drop.reason);
  });

  it('thin data is no data, never a pass', () => {
    const r = judgeWithCustom(judge, window([20, 0.4, 1], [20, 0.4, 1]), analysis);
    const cost = r.metrics.find((m) => (m.metric as string) === 'costPerTask')!;
    assert.equal(cost.status, 'nodata');
    assert.match(cost.reason, /need 50 each/);
  });

  it('keeps the rollout alpha: p-values are on the scale of every judged metric', () => {
    // Only the error rate judged: its p-value alone, then with two custom metrics in the family.
    const w = window([2000, 40, 100], [2000, 40, 100]);
    w.stable.requests = 5000;
    w.stable.errors = 50;
    w.canary.requests = 5000;
    w.canary.errors = 90;
    const alone = judge(w, { ...analysis, custom: undefined }).metrics[0].pValue!;
    const withCustom = judgeWithCustom(judge, w, analysis).metrics[0].pValue!;
    assert.ok(alone < 1, `p ${alone}`);
    assert.ok(Math.abs(withCustom - Math.min(1, alone * 3)) < 1e-9, `${withCustom} vs 3 x ${alone}`);
  });

  it('a worker whose metrics source cannot read custom queries refuses the check, naming the metrics', async () => {
    const metrics = new SteerableMetrics();
    metrics.set('support-bot', { rps: 10 });
    const err = await fetchWithCustom(
      metrics,
      { agent: 'support-bot', stable: 'v1', canary: 'v2', since: 0, until: 1000 },
      analysis.custom,
    ).then(
      () => assert.fail('expected a refusal'),
      (e: Error) => e,
    );
    assert.ok(err instanceof MetricsConfigError);
    assert.match(
      err.message,
      /analysis\.custom \(costPerTask, overBudget\) needs Prometheus: run the worker with --metrics prometheus-query/,
    );
  });

  it("the check activity reads the plan's custom metrics with the window and judges them", async () => {
    const env = new MockActivityEnvironment();
    const metrics = new SteerableMetrics();
    metrics.set('support-bot', { rps: 10 });
    const queries: MetricsQuery[] = [];
    // The steerable source, plus the custom values a Prometheus source would read for the query.
    const withCustom: MetricsSource = {
      async fetch(q) {
        queries.push(q);
        const w = await metrics.fetch(q);
        const c = window([2000, 40, 100], [2000, 80, 600]);
        return {
          ...w,
          stable: { ...w.stable, custom: c.stable.custom },
          canary: { ...w.canary, custom: c.canary.custom },
        };
      },
    };
    const input = {
      agent: 'support-bot',
      stable: 'v1',
      canary: 'v2',
      since: 0,
      until: 60_000,
      analysis,
      lease: { stable: 'v1', canary: 'v2', canaryWeight: 5, leaseMs: 60_000 },
    };
    const acts = createActivities({ router: new FakeRouter(), metrics: withCustom, notifiers: () => [] });
    const outcome: CheckOutcome = await env.run(acts.checkCanary, input);
    assert.deepEqual(
      queries[0].custom?.map((m) => m.name),
      ['costPerTask', 'overBudget'],
    );
    assert.equal(outcome.metrics, 'ok');
    const verdict = outcome.metrics === 'ok' ? outcome.verdict : undefined;
    assert.equal(verdict?.verdict, 'fail');
    assert.match(verdict?.reason ?? '', /costPerTask: worse/);

    // A source that does not read them: the check is refused for good, naming the metrics.
    const plain = createActivities({ router: new FakeRouter(), metrics, notifiers: () => [] });
    await assert.rejects(
      env.run(plain.checkCanary, input),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.nonRetryable &&
        /metrics source refused the query: the plan's analysis\.custom \(costPerTask, overBudget\)/.test(
          err.message,
        ),
    );
  });
});

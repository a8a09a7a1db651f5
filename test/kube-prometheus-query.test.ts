// Metrics by query (the Kubernetes setup's metrics source) against a real Prometheus (Debian package,
// installed by .ci/install-system.sh) scraping an exporter of fixed series every second: each
// template kind turns into the window's numbers exactly, placeholders are substituted and escaped,
// bad templates are refused naming the metric and field, an outage is a plain (retryable) error.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { judge, metricValue } from '../src/analysis';
import { judgeWithCustom } from '../src/analysis/custom';
import { fetchWithCustom } from '../src/metrics/prometheus-custom';
import { resolvePlan } from '../src/plan';
import {
  parseQueryConfig,
  PrometheusQueryMetricsSource,
  type QueryConfig,
} from '../src/metrics/prometheus-query';
import { MetricsConfigError, type MetricsWindow } from '../src/metrics/types';
import { createBackends, resolveBackendSettings } from '../src/temporal/backends';
import { SettingsError } from '../src/temporal/errors';
import { freePort } from '../src/temporal/devserver';
import { waitFor } from './gateway-support';
import { startPrometheus, type RunningPrometheus } from './prometheus-support';
import { requirePrerequisites } from './support/prerequisites';

const STABLE = 'v1.3.1';
const CANARY = 'v1.4.0+rc.1'; // regex and label metacharacters on purpose

// What a gateway and an agent would export: Istio-like request series with a namespace label, a
// latency histogram in milliseconds, the agent's task and quality series.
function exposition(): string {
  const lines: string[] = [];
  const series = (
    v: string,
    r: number,
    e: number,
    buckets: number[],
    tasks: [number, number],
    q: [number, number],
  ) => {
    const l = `version="${v}",ns="ai-serving"`;
    lines.push(
      `istio_requests_total{${l},code="200"} ${r - e}`,
      `istio_requests_total{${l},code="500"} ${e}`,
    );
    const les = ['50', '100', '250', '1000', '+Inf'];
    les.forEach((le, i) =>
      lines.push(`istio_request_duration_milliseconds_bucket{${l},le="${le}"} ${buckets[i]}`),
    );
    lines.push(`agent_tasks_total{${l}} ${tasks[0]}`, `agent_tasks_succeeded_total{${l}} ${tasks[1]}`);
    lines.push(`agent_quality_score_sum{${l}} ${q[0]}`, `agent_quality_score_count{${l}} ${q[1]}`);
  };
  series(STABLE, 1000, 10, [600, 900, 990, 1000, 1000], [200, 190], [160, 200]);
  series(CANARY, 500, 50, [100, 300, 450, 480, 500], [100, 70], [60, 100]);
  // The agents' own cost, budget and token series, read by the plan's analysis.custom.
  const custom = (v: string, cost: number[], costSum: number, overBudget: number, tokens: number[]) => {
    const l = `version="${v}",ns="ai-serving"`;
    ['0.01', '0.02', '0.05', '0.1', '+Inf'].forEach((le, i) =>
      lines.push(`agent_task_cost_usd_bucket{${l},le="${le}"} ${cost[i]}`),
    );
    lines.push(`agent_task_cost_usd_sum{${l}} ${costSum}`, `agent_task_cost_usd_count{${l}} ${cost[4]}`);
    lines.push(`agent_tasks_over_budget_total{${l}} ${overBudget}`);
    ['500', '1000', '2000', '4000', '+Inf'].forEach((le, i) =>
      lines.push(`agent_task_tokens_bucket{${l},le="${le}"} ${tokens[i]}`),
    );
  };
  custom(STABLE, [100, 350, 390, 400, 400], 6, 4, [100, 300, 380, 400, 400]);
  custom(CANARY, [20, 80, 300, 400, 400], 16, 30, [20, 60, 150, 300, 400]);
  // Another namespace's series with the same versions: the {{namespace}} selector must exclude it.
  lines.push(`istio_requests_total{version="${STABLE}",ns="other",code="200"} 99999`);
  return lines.join('\n') + '\n';
}

const sel = 'ns="{{namespace}}",version="{{version}}"';
/** A plan's custom metrics over the series above, as a team would write them. */
const CUSTOM = [
  {
    name: 'costPerTask',
    kind: 'mean',
    direction: 'lower',
    unit: 'USD',
    minEffect: 0.005,
    query: {
      sum: `sum(agent_task_cost_usd_sum{${sel}})`,
      count: `sum(agent_task_cost_usd_count{${sel}})`,
      buckets: `sum by (le) (agent_task_cost_usd_bucket{${sel}})`,
    },
  },
  {
    name: 'overBudget',
    kind: 'proportion',
    direction: 'lower',
    thresholds: { maxAbsolute: 0.1 },
    query: {
      total: `sum(agent_tasks_total{${sel}})`,
      matching: `sum(agent_tasks_over_budget_total{${sel}})`,
    },
  },
  {
    name: 'tokensP90',
    kind: 'quantile',
    quantile: 0.9,
    direction: 'lower',
    query: { buckets: `sum by (le) (agent_task_tokens_bucket{${sel}})` },
  },
];

const CONFIG = {
  namespace: 'ai-serving',
  metrics: {
    error_rate: {
      kind: 'proportion',
      total: 'sum(max_over_time(istio_requests_total{ns="{{namespace}}",version="{{version}}"}[{{window}}]))',
      bad: 'sum(istio_requests_total{ns="{{namespace}}",version=~"{{version_re}}",code=~"5.."})',
    },
    p99_latency_ms: {
      kind: 'histogram',
      unit: 'ms',
      buckets:
        'sum by (le) (istio_request_duration_milliseconds_bucket{ns="{{namespace}}",version="{{version}}"})',
    },
    task_success_rate: {
      kind: 'proportion',
      total: 'sum(agent_tasks_total{ns="{{namespace}}",version="{{version}}"})',
      good: 'sum(agent_tasks_succeeded_total{ns="{{namespace}}",version="{{version}}"})',
    },
    quality_score: {
      kind: 'mean',
      sum: 'sum(agent_quality_score_sum{version="{{version}}"})',
      count: 'sum(agent_quality_score_count{version="{{version}}"})',
    },
  },
};

describe('prometheus-query metrics source against a real Prometheus', function () {
  this.timeout(60_000);
  let exporter: Server;
  let prometheus: RunningPrometheus | undefined;
  let promUrl: string;
  let config: QueryConfig;
  /** For the query files the worker is given below. */
  let dir: string;

  before(async function () {
    requirePrerequisites(this, 'prometheus');
    config = parseQueryConfig(CONFIG);
    dir = mkdtempSync(join(tmpdir(), 'agent-canary-promq-'));
    exporter = createServer((_, res) => res.end(exposition()));
    await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
    const target = `127.0.0.1:${(exporter.address() as { port: number }).port}`;
    prometheus = await startPrometheus({ agents: target });
    promUrl = prometheus.url;
    const source = new PrometheusQueryMetricsSource({ url: promUrl, config });
    await waitFor(
      'prometheus to scrape the exporter',
      async () => {
        const w = await fetchWindow(source).catch(() => undefined);
        return w && w.stable.requests > 0 && w.canary.quality.count > 0 ? true : undefined;
      },
      30_000,
    );
  });

  after(async () => {
    await prometheus?.close();
    exporter?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const fetchWindow = (source: PrometheusQueryMetricsSource): Promise<MetricsWindow> => {
    const until = Date.now();
    return source.fetch({
      agent: 'support-bot',
      stable: STABLE,
      canary: CANARY,
      since: until - 30_000,
      until,
    });
  };

  it('turns each kind of template into the window the judge reads, per version', async () => {
    const w = await fetchWindow(new PrometheusQueryMetricsSource({ url: promUrl, config }));
    assert.equal(w.stable.requests, 1000);
    assert.equal(w.stable.errors, 10);
    assert.equal(w.canary.requests, 500);
    assert.equal(w.canary.errors, 50);
    assert.deepEqual(w.stable.latencyMs.histogram, [
      [50, 600],
      [100, 300],
      [250, 90],
      [1000, 10],
    ]);
    assert.equal(w.canary.latencyMs.count, 500);
    assert.deepEqual(w.canary.taskSuccess, { successes: 70, total: 100 });
    assert.deepEqual(w.stable.quality, { count: 200, sum: 160, histogram: [] });

    // What the judge makes of it.
    assert.equal(metricValue(w.canary, 'error_rate').value, 0.1);
    assert.equal(metricValue(w.stable, 'error_rate').value, 0.01);
    assert.equal(metricValue(w.stable, 'p99_latency_ms').value, 250);
    assert.equal(metricValue(w.canary, 'task_success_rate').value, 0.7);
    assert.equal(metricValue(w.canary, 'quality_score').value, 0.6);
  });

  it("reads the plan's custom metrics per version and judges them with the built-ins", async () => {
    const source = new PrometheusQueryMetricsSource({ url: promUrl, config });
    const plan = resolvePlan({
      agent: 'support-bot',
      stable: STABLE,
      canary: CANARY,
      analysis: { metrics: ['error_rate'], minSamples: 50, custom: CUSTOM },
    });
    const custom = plan.analysis.custom!;
    const until = Date.now();
    const query = { agent: 'support-bot', stable: STABLE, canary: CANARY, since: until - 30_000, until };
    const w = await fetchWithCustom(source, query, custom);
    assert.deepEqual(w.stable.custom, {
      costPerTask: {
        count: 400,
        sum: 6,
        histogram: [
          [0.01, 100],
          [0.02, 250],
          [0.05, 40],
          [0.1, 10],
        ],
      },
      overBudget: { count: 200, matching: 4, histogram: [] },
      tokensP90: {
        count: 400,
        histogram: [
          [500, 100],
          [1000, 200],
          [2000, 80],
          [4000, 20],
        ],
      },
    });
    assert.deepEqual(w.canary.custom!.overBudget, { count: 100, matching: 30, histogram: [] });

    // The canary costs more, overruns its budget more often and uses more tokens: each custom
    // metric fails on its own evidence, beside the built-in error rate (also worse here).
    const verdict = judgeWithCustom(judge, w, plan.analysis);
    assert.equal(verdict.verdict, 'fail');
    const by = new Map(verdict.metrics.map((m) => [m.metric as string, m]));
    assert.deepEqual([...by.keys()], ['error_rate', 'costPerTask', 'overBudget', 'tokensP90']);
    for (const name of ['costPerTask', 'overBudget', 'tokensP90']) {
      assert.equal(by.get(name)!.status, 'fail', by.get(name)!.reason);
    }
    assert.equal(by.get('costPerTask')!.canary, 0.04);
    assert.equal(by.get('tokensP90')!.stable, 2000);
    assert.match(by.get('costPerTask')!.reason, /costPerTask: worse, canary 0\.04 USD vs stable 0\.015 USD/);

    // The same series on both sides: nothing fails; the mean passes, while 200 tasks with 4 over
    // budget cannot yet rule out a rise of 1 point, nor 40 tasks above 2000 tokens a 10% rise of
    // the p90 (not yet: thin data never passes).
    const same = await fetchWithCustom(source, { ...query, canary: STABLE }, custom);
    const healthy = judgeWithCustom(judge, same, { ...plan.analysis, metrics: ['error_rate'] });
    const customResults = healthy.metrics.filter((m) => m.metric !== 'error_rate');
    assert.equal(customResults.length, 3);
    assert.deepEqual(
      customResults.map((m) => [m.metric, m.status]),
      [
        ['costPerTask', 'pass'],
        ['overBudget', 'inconclusive'],
        ['tokensP90', 'inconclusive'],
      ],
      customResults.map((m) => m.reason).join('\n'),
    );
  });

  it('a custom template Prometheus refuses is a MetricsConfigError naming the custom metric and field', async () => {
    const source = new PrometheusQueryMetricsSource({ url: promUrl, config });
    const plan = resolvePlan({
      agent: 'support-bot',
      stable: STABLE,
      canary: CANARY,
      analysis: {
        custom: [{ ...CUSTOM[1], query: { ...CUSTOM[1].query, matching: 'sum(rate(x{v="{{version}}"}))' } }],
      },
    });
    const until = Date.now();
    const err = await fetchWithCustom(
      source,
      { agent: 'support-bot', stable: STABLE, canary: CANARY, since: until - 30_000, until },
      plan.analysis.custom,
    ).then(
      () => assert.fail('expected a rejection'),
      (e: Error) => e,
    );
    assert.ok(err instanceof MetricsConfigError, String(err));
    assert.match(err.message, /custom\.overBudget\.matching \(version [^)]+\): HTTP 400 .*parse error/);
  });

  it("takes the plan's analysis.queries over the worker's templates, metric by metric", async () => {
    // The worker's file reads errors from istio series; this rollout's plan counts only 503s as errors.
    const plan = resolvePlan({
      agent: 'support-bot',
      stable: STABLE,
      canary: CANARY,
      analysis: {
        queries: {
          error_rate: {
            kind: 'proportion',
            total: CONFIG.metrics.error_rate.total,
            bad: 'sum(istio_requests_total{ns="{{namespace}}",version="{{version}}",code="503"}) or vector(0)',
          },
        },
      },
    });
    const source = new PrometheusQueryMetricsSource({ url: promUrl, config });
    const until = Date.now();
    const w = await fetchWithCustom(
      source,
      {
        agent: 'support-bot',
        stable: STABLE,
        canary: CANARY,
        since: until - 30_000,
        until,
        queries: plan.analysis.queries,
      },
      undefined,
    );
    assert.equal(w.canary.requests, 500, "total still from the plan's template");
    assert.equal(w.canary.errors, 0, "bad from the plan's template: no 503s");
    assert.deepEqual(
      w.canary.taskSuccess,
      { successes: 70, total: 100 },
      "the worker's template for the rest",
    );
  });

  it('a plan with analysis.queries is refused by a source that reads its own series, naming the key', async () => {
    const gatewayLike = { fetch: () => Promise.reject(new Error('not reached')) };
    const until = Date.now();
    await assert.rejects(
      fetchWithCustom(
        gatewayLike,
        {
          agent: 'support-bot',
          stable: STABLE,
          canary: CANARY,
          since: until - 1000,
          until,
          queries: {
            error_rate: {
              kind: 'proportion',
              total: 'sum(x{version="{{version}}"})',
              bad: 'sum(y{version="{{version}}"})',
            },
          },
        },
        undefined,
      ),
      (err: Error) =>
        err instanceof MetricsConfigError &&
        /analysis\.queries \(error_rate\).*--metrics prometheus-query/.test(err.message),
    );
  });

  it("validates the plan's analysis.queries, naming each field", () => {
    assert.throws(
      () =>
        resolvePlan({
          agent: 'a',
          stable: 'v1',
          canary: 'v2',
          analysis: {
            queries: { error_rate: { kind: 'proportion', total: 'sum(x{version="{{verison}}"})', bad: '' } },
          },
        }),
      (err: Error) =>
        /analysis\.queries\.error_rate\.total: .*verison/.test(err.message) &&
        /analysis\.queries\.error_rate\.bad/.test(err.message),
    );
    assert.throws(
      () => resolvePlan({ agent: 'a', stable: 'v1', canary: 'v2', analysis: { queries: { errors: {} } } }),
      /analysis\.queries/,
    );
  });

  it('a metric left out has no data (never healthy), not zero errors', async () => {
    const only = parseQueryConfig({ ...CONFIG, metrics: { error_rate: CONFIG.metrics.error_rate } });
    const w = await fetchWindow(new PrometheusQueryMetricsSource({ url: promUrl, config: only }));
    assert.equal(w.canary.requests, 500);
    assert.equal(metricValue(w.canary, 'task_success_rate').value, null);
    assert.equal(metricValue(w.canary, 'quality_score').value, null);
  });

  it('a template Prometheus refuses is a MetricsConfigError naming the metric and field, in fetch and preflight', async () => {
    const bad = parseQueryConfig({
      ...CONFIG,
      metrics: {
        ...CONFIG.metrics,
        task_success_rate: { ...CONFIG.metrics.task_success_rate, good: 'sum(x{v="{{version}}"}' },
      },
    });
    const source = new PrometheusQueryMetricsSource({ url: promUrl, config: bad });
    const err = await fetchWindow(source).then(
      () => assert.fail('expected a rejection'),
      (e: Error) => e,
    );
    assert.ok(err instanceof MetricsConfigError, String(err));
    assert.match(err.message, /task_success_rate\.good/);
    const problems = await source.preflight('support-bot', { stable: STABLE, canary: CANARY });
    assert.equal(problems.length, 1);
    assert.match(problems[0], /^task_success_rate\.good: HTTP 400/);
    assert.deepEqual(
      await new PrometheusQueryMetricsSource({ url: promUrl, config }).preflight('support-bot', {
        stable: STABLE,
        canary: CANARY,
      }),
      [],
    );
  });

  it('Prometheus down is a plain (retryable) error', async () => {
    const port = await freePort();
    const err = await fetchWindow(
      new PrometheusQueryMetricsSource({ url: `http://127.0.0.1:${port}`, config }),
    ).then(
      () => assert.fail('expected a rejection'),
      (e: Error) => e,
    );
    assert.ok(!(err instanceof MetricsConfigError), String(err));
    assert.match(err.message, /prometheus unreachable: connection refused \(ECONNREFUSED\)/);
  });

  it('validates the configuration with messages naming each field', () => {
    const err = (raw: unknown) => {
      try {
        parseQueryConfig(raw);
      } catch (e) {
        assert.ok(e instanceof MetricsConfigError);
        return e.message;
      }
      assert.fail('expected a refusal');
    };
    const m = err({
      metrics: {
        error_rate: { kind: 'proportion', total: 'sum(x{version="{{verison}}"})', bad: 'sum(errors_total)' },
        p99_latency_ms: { kind: 'mean', sum: 'x' },
        extra_metric: {},
      },
    });
    assert.match(m, /metrics\.error_rate\.total: unknown placeholder \{\{verison\}\}/);
    assert.match(m, /metrics\.error_rate\.bad: must select the version with \{\{version\}\}/);
    assert.match(m, /metrics\.p99_latency_ms\.kind/);
    assert.match(m, /extra_metric/);
    assert.match(err({ metrics: {} }), /at least one metric/);
    assert.throws(
      () => new PrometheusQueryMetricsSource({ url: 'file:///etc/passwd', config }),
      /must be http:\/\/ or https:\/\//,
    );
  });

  it('is chosen with --metrics prometheus-query; a bad query file stops the worker naming it', () => {
    const file = join(dir, 'queries.yaml');
    writeFileSync(file, JSON.stringify(CONFIG));
    const env = {
      AGENT_CANARY_ROUTER: 'kubernetes',
      AGENT_CANARY_KUBE_NAMESPACE: 'ai-serving',
      AGENT_CANARY_METRICS: 'prometheus-query',
      AGENT_CANARY_PROMETHEUS_URL: promUrl,
      AGENT_CANARY_PROMETHEUS_QUERIES: file,
    };
    const deps = createBackends(resolveBackendSettings({}, env));
    assert.ok(deps.metrics instanceof PrometheusQueryMetricsSource);
    assert.equal(deps.router.constructor.name, 'KubernetesRouter');

    assert.throws(
      () => resolveBackendSettings({}, { ...env, AGENT_CANARY_PROMETHEUS_QUERIES: '' }),
      (e: Error) =>
        e instanceof SettingsError &&
        /--prometheus-queries \(or AGENT_CANARY_PROMETHEUS_QUERIES\)/.test(e.message),
    );
    writeFileSync(file, 'metrics:\n  error_rate: { kind: proportion, total: "up", bad: "up" }\n');
    assert.throws(
      () => createBackends(resolveBackendSettings({}, env)),
      (e: Error) =>
        e instanceof SettingsError && /metrics\.error_rate\.total: must select the version/.test(e.message),
    );
    assert.throws(
      () => resolveBackendSettings({}, { ...env, AGENT_CANARY_KUBE_NAMESPACE: 'Not_A_Namespace' }),
      (e: Error) =>
        e instanceof SettingsError && /kubeNamespace: must be a Kubernetes namespace name/.test(e.message),
    );
  });
});

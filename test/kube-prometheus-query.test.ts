// Metrics by query (the Kubernetes setup's metrics source) against a real Prometheus (Debian package,
// installed by .ci/install-prometheus.sh) scraping an exporter of fixed series every second: each
// template kind turns into the window's numbers exactly, placeholders are substituted and escaped,
// bad templates are refused naming the metric and field, an outage is a plain (retryable) error.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricValue } from '../src/analysis';
import {
  parseQueryConfig,
  PrometheusQueryMetricsSource,
  type QueryConfig,
} from '../src/metrics/prometheus-query';
import { MetricsConfigError, type MetricsWindow } from '../src/metrics/types';
import { createBackends, resolveBackendSettings } from '../src/temporal/backends';
import { freePort } from '../src/temporal/devserver';
import { SettingsError } from '../src/temporal/errors';
import { waitFor } from './gateway-support';

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
  // Another namespace's series with the same versions: the {{namespace}} selector must exclude it.
  lines.push(`istio_requests_total{version="${STABLE}",ns="other",code="200"} 99999`);
  return lines.join('\n') + '\n';
}

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
  let prometheus: ChildProcess | undefined;
  let promUrl: string;
  let dir: string;
  let config: QueryConfig;

  before(async function () {
    if (spawnSync('prometheus', ['--version']).error) {
      throw new Error(
        'prometheus is not installed: run `bash .ci/install-prometheus.sh` (Debian package prometheus)',
      );
    }
    config = parseQueryConfig(CONFIG);
    exporter = createServer((_, res) => res.end(exposition()));
    await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
    const target = `127.0.0.1:${(exporter.address() as { port: number }).port}`;
    dir = mkdtempSync(join(tmpdir(), 'agent-canary-promq-'));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: agents\n    static_configs: [{ targets: ["${target}"] }]\n`,
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: 'ignore' },
    );
    const source = new PrometheusQueryMetricsSource({ url: promUrl, config });
    await waitFor(
      'prometheus to scrape the exporter',
      async () => {
        if (prometheus!.exitCode !== null) throw new Error('prometheus exited');
        const w = await fetchWindow(source).catch(() => undefined);
        return w && w.stable.requests > 0 && w.canary.quality.count > 0 ? true : undefined;
      },
      30_000,
    );
  });

  after(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus!.once('exit', r));
      prometheus.kill('SIGTERM');
      await exited;
    }
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
    assert.match(err.message, /prometheus unreachable: ECONNREFUSED/);
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
      /http or https/,
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

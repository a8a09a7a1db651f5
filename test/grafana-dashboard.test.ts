// The Grafana dashboard (deploy/grafana/agent-canary.json, and the Helm chart's copy) against Grafana's
// own dashboard schema and its time series panel schema (JSON schemas of grafana-foundation-sdk,
// vendored under test/fixtures/grafana), and every query against the metrics that really exist.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import YAML from 'yaml';
import { DASHBOARD_FILES } from '../src/deploy-files';
import { DASHBOARD_JSON } from '../src/metrics/grafana-dashboard';
import { RolloutMetrics } from '../src/temporal/rollout-metrics';
import { renderPrometheus } from '../src/gateway/metrics-store';
import { requirePrerequisites } from './support/prerequisites';

const fixture = (f: string) => JSON.parse(readFileSync(join(__dirname, 'fixtures', 'grafana', f), 'utf8'));

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  options?: unknown;
}
interface Dashboard {
  panels: Panel[];
  annotations: { list: { expr?: string }[] };
}

/** The metric names a PromQL expression reads (names followed by { or ( are not functions here). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(agent_canary_[a-z_]+)\b/g)].map((m) => m[1]);
}

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(DASHBOARD_JSON()) as Dashboard;
  const exprs = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.annotations.list.flatMap((a) => (a.expr ? [a.expr] : [])),
  ];

  it('the committed copies are what `npm run gen:deploy` writes', () => {
    for (const file of DASHBOARD_FILES) {
      assert.equal(
        readFileSync(file, 'utf8'),
        DASHBOARD_JSON(),
        `${file} is out of date: run npm run gen:deploy`,
      );
    }
  });

  it("is valid against Grafana's dashboard schema, and each time series panel against the panel's", () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(fixture('dashboard.jsonschema.json'));
    assert.ok(validate(dashboard), ajv.errorsText(validate.errors, { separator: '\n' }));
    const ts = fixture('timeseries.jsonschema.json');
    const options = ajv.compile({ ...ts, $ref: '#/definitions/Options' });
    const panels = dashboard.panels.filter((p) => p.type === 'timeseries');
    assert.ok(panels.length >= 8);
    for (const p of panels) assert.ok(options(p.options), `${p.title}: ${ajv.errorsText(options.errors)}`);
    // And the schema does refuse a broken one (so the check above means something).
    const broken = { ...dashboard, panels: [{ ...dashboard.panels[1], gridPos: { x: 0 } }] };
    assert.equal(validate(broken), false);
  });

  it('one row per agent, weight over time, canary vs stable per metric, decisions as annotations', () => {
    const row = dashboard.panels.find(
      (p) => p.type === 'row' && (p as { repeat?: string }).repeat === 'agent',
    );
    assert.ok(row, 'a row repeated per agent');
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ['Weight over time', 'Error rate: canary vs stable', 'p99 latency: canary vs stable'])
      assert.ok(titles.includes(t), t);
    assert.ok(
      dashboard.annotations.list.some((a) => a.expr?.includes('agent_canary_rollout_decisions_total')),
    );
  });

  it('every query reads a metric the gateway or the worker exports', async () => {
    const worker = new RolloutMetrics();
    worker.observeDecision({
      type: 'started',
      agent: 'a',
      stable: 's',
      canary: 'c',
      workflowId: 'w',
      runId: 'r',
      stageIndex: 0,
      stageCount: 2,
      percent: 5,
      reason: '',
      by: 'agent-canary',
      at: new Date().toISOString(),
    });
    const exported = new Set([...(await worker.text()).matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
    // The gateway's names, from its own exposition (a histogram adds _bucket, _sum, _count).
    const gateway = renderPrometheus([], [], { feedbackUnmatched: 0 });
    for (const m of gateway.matchAll(/^# TYPE (\S+)/gm)) exported.add(m[1]);
    const known = (name: string) =>
      exported.has(name) || exported.has(name.replace(/_(bucket|sum|count)$/, ''));
    const unknown = exprs.flatMap(metricNames).filter((n) => !known(n));
    assert.deepEqual(unknown, []);
  });

  it('every query is valid PromQL (promtool)', function () {
    requirePrerequisites(this, 'promtool');
    const dir = mkdtempSync(join(tmpdir(), 'agent-canary-promql-'));
    try {
      const rules = exprs.map((e, i) => ({
        record: `dashboard:query_${i}`,
        expr: e.replaceAll('$__rate_interval', '5m').replaceAll('$agent', 'x'),
      }));
      const file = join(dir, 'queries.yaml');
      writeFileSync(file, YAML.stringify({ groups: [{ name: 'dashboard', rules }] }));
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

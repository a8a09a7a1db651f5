// The Helm chart (deploy/helm/agent-canary) with the real helm (.ci/helm.sh): it lints, renders with
// defaults and with production values, wires each process the way its own CLI reads settings, and
// grants the operator nothing beyond AgentRollouts. The rendered manifests are applied to the real
// API server (server-side dry run) in test/kube-gitops.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveBackendSettings } from '../src/temporal/backends';
import { metricsListenProblem } from '../src/temporal/metrics-server';
import { loadGatewayConfig } from '../src/gateway';
import { CHART, helm, renderChart, type K8sObject } from './helm-support';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { requirePrerequisites } from './support/prerequisites';

type Container = { args: string[]; env?: { name: string; value?: string; valueFrom?: unknown }[] };
const containerOf = (objects: K8sObject[], name: string): Container => {
  const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name) as
    (K8sObject & { spec: { replicas: number; template: { spec: { containers: Container[] } } } }) | undefined;
  assert.ok(d, `Deployment ${name} rendered`);
  return d.spec.template.spec.containers[0];
};
const envOf = (c: Container) =>
  Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));

const PRODUCTION = {
  'gateway.replicas': 3,
  'gateway.databaseUrlSecret': 'gateway-db',
  'gateway.adminToken': 'not-a-real-token-0123456789',
  'serviceMonitor.enabled': true,
  'prometheusRule.enabled': true,
  'worker.replicas': 2,
};

describe('Helm chart', function () {
  this.timeout(60_000);
  before(function () {
    requirePrerequisites(this, 'helm');
  });

  it('lints (strict) with defaults and with production values', () => {
    for (const set of [{}, PRODUCTION]) {
      const args = ['lint', '--strict', CHART, '--kube-version', '1.33.13'];
      for (const [k, v] of Object.entries(set)) args.push('--set', `${k}=${v}`);
      const r = helm(args);
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('renders worker, gateway with its replicas and PostgreSQL URL, operator, RBAC, ServiceMonitor, rules and dashboard', () => {
    const { objects } = renderChart(PRODUCTION);
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    for (const k of [
      'Deployment/rel-worker',
      'Deployment/rel-gateway',
      'Deployment/rel-operator',
      'ClusterRole/rel-operator',
      'ClusterRoleBinding/rel-operator',
      'ServiceMonitor/rel',
      'PrometheusRule/rel',
      'ConfigMap/rel-grafana-dashboard',
      'Service/rel-worker-metrics',
      'Service/rel-gateway',
    ])
      assert.ok(kinds.includes(k), `${k} in ${kinds.join(', ')}`);
    const gw = objects.find(
      (o) => o.metadata.name === 'rel-gateway' && o.kind === 'Deployment',
    ) as K8sObject & {
      spec: { replicas: number };
    };
    assert.equal(gw.spec.replicas, 3);
    const db = containerOf(objects, 'rel-gateway').env!.find(
      (e) => e.name === 'AGENT_CANARY_GATEWAY_DATABASE_URL',
    );
    assert.deepEqual(db?.valueFrom, { secretKeyRef: { name: 'gateway-db', key: 'database-url' } });
  });

  it('refuses gateway replicas without PostgreSQL, saying why', () => {
    assert.throws(
      () => renderChart({ 'gateway.replicas': 2 }),
      /gateway.replicas > 1 needs gateway.databaseUrl/,
    );
  });

  it("each process's settings are what its CLI accepts", () => {
    const { objects } = renderChart({ 'worker.router': 'kubernetes' });
    const worker = containerOf(objects, 'rel-worker');
    const env = envOf(worker);
    assert.deepEqual(worker.args, ['agent-canary', 'worker']);
    assert.equal(metricsListenProblem(env.AGENT_CANARY_WORKER_METRICS_LISTEN), undefined);
    // The backends as the worker resolves them from its environment (the token comes from a Secret).
    const s = resolveBackendSettings({}, { ...env, AGENT_CANARY_ADMIN_TOKEN: 'from-the-secret' });
    assert.equal(s.router, 'kubernetes');
    assert.equal(s.kubeNamespace, 'ai-serving');
    // The gateway's config map is a config the gateway loads.
    const cm = objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name === 'rel-gateway',
    ) as K8sObject & {
      data: Record<string, string>;
    };
    const dir = mkdtempSync(join(tmpdir(), 'agent-canary-helm-'));
    try {
      writeFileSync(join(dir, 'gateway.yaml'), cm.data['gateway.yaml']);
      const config = loadGatewayConfig(join(dir, 'gateway.yaml'));
      assert.deepEqual([...config.agents.keys()], ['support-bot']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(containerOf(objects, 'rel-operator').args, [
      'agent-canary',
      'operator',
      '--resync',
      '5s',
    ]);
  });

  it('RBAC is minimal: AgentRollouts and their status for the operator, HTTPRoutes for the router', () => {
    const { objects } = renderChart({ 'worker.router': 'kubernetes', 'operator.watchNamespace': 'teams' });
    const rules = (name: string, kind: string) =>
      (objects.find((o) => o.kind === kind && o.metadata.name === name) as K8sObject & { rules: unknown })
        .rules;
    assert.deepEqual(rules('rel-operator', 'Role'), [
      {
        apiGroups: ['agent-canary.dev'],
        resources: ['agentrollouts'],
        verbs: ['get', 'list', 'watch', 'patch'],
      },
      { apiGroups: ['agent-canary.dev'], resources: ['agentrollouts/status'], verbs: ['patch'] },
    ]);
    assert.deepEqual(rules('rel-router', 'Role'), [
      {
        apiGroups: ['gateway.networking.k8s.io'],
        resources: ['httproutes'],
        verbs: ['get', 'list', 'patch'],
      },
    ]);
    assert.ok(!objects.some((o) => o.kind === 'ClusterRole'), 'one watched namespace: no ClusterRole');
    const gatewaySa = objects.find(
      (o) => o.kind === 'ServiceAccount' && o.metadata.name === 'rel-gateway',
    ) as (K8sObject & { automountServiceAccountToken: boolean }) | undefined;
    assert.equal(gatewaySa?.automountServiceAccountToken, false, 'the gateway gets no API token');
  });

  it("the chart's copies of the rules and dashboard are the ones under deploy/", () => {
    const root = join(__dirname, '..', 'deploy');
    assert.equal(
      readFileSync(join(CHART, 'files', 'prometheus-rules.yaml'), 'utf8'),
      readFileSync(join(root, 'prometheus', 'agent-canary-rules.yaml'), 'utf8'),
    );
    assert.equal(
      readFileSync(join(CHART, 'files', 'grafana-dashboard.json'), 'utf8'),
      readFileSync(join(root, 'grafana', 'agent-canary.json'), 'utf8'),
    );
  });
});

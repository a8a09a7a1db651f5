// GitOps against the real kube-apiserver (test/kube-support.ts): the AgentRollout CRD generated from
// the plan schema is served and validates; `kubectl apply -f` of an AgentRollout starts a rollout that
// promotes through the real gateway, and `kubectl wait --for=condition=Promoted` returns; a bad canary
// ends RolledBack with the reason in status; annotations command a running rollout; deleting aborts
// it. The operator runs as a ServiceAccount holding only the chart's operator Role. The Helm chart's
// rendered manifests pass a server-side dry run.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { startGateway, type RunningGateway } from '../src/gateway';
import { KubeClient } from '../src/kubernetes/client';
import { AgentRolloutOperator } from '../src/kubernetes/operator';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { GatewayRouter } from '../src/router/gateway';
import { getStatus } from '../src/temporal/rollouts';
import { CRD_FILES } from '../src/deploy-files';
import { RecordingNotifier } from './fakes';
import { startWorker, testEnv, uniqueName, type RunningWorker } from './harness';
import { waitFor } from './gateway-support';
import { PROMETHEUS_OPERATOR_CRDS, renderChart } from './helm-support';
import { KUBECTL, startKubeCluster, waitEstablished, type KubeCluster } from './kube-support';
import { requirePrerequisites } from './support/prerequisites';

const NS = 'teams';
const TOKEN = 'gitops-admin-token-0123456789';

describe('GitOps: AgentRollout resources on a real kube-apiserver', function () {
  this.timeout(180_000);
  let cluster: KubeCluster;
  let gateway: RunningGateway;
  let worker: RunningWorker;
  let operator: AgentRolloutOperator;
  let operatorKubeconfig: string;
  const stopFeeds: (() => Promise<void>)[] = [];
  const good = uniqueName('gitops-good');
  const bad = uniqueName('gitops-bad');
  const held = uniqueName('gitops-held');

  /** Outcomes as clients that call the agents themselves report them, until stopped. */
  const feed = (agent: string, canaryErrorRate: number) => {
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const outcomes = ['v1', 'v2'].flatMap((version) =>
          Array.from({ length: 20 }, (_, i) => ({
            version,
            latencyMs: 100 + (i % 5),
            error: version === 'v2' && i / 20 < canaryErrorRate,
          })),
        );
        await fetch(`${gateway.url}/v1/agents/${agent}/outcomes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(outcomes),
        }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    stopFeeds.push(async () => {
      stopped = true;
      await loop;
    });
  };

  const resource = (name: string, agent: string, observe: string) =>
    YAML.stringify({
      apiVersion: 'agent-canary.dev/v1alpha1',
      kind: 'AgentRollout',
      metadata: { name, namespace: NS },
      spec: {
        agent,
        stable: 'v1',
        canary: 'v2',
        stages: [{ weight: 20, observe }, { weight: 100 }],
        analysis: {
          interval: '400ms',
          failureLimit: 2,
          minSamples: 20,
          judge: 'thresholds',
          metrics: ['error_rate', 'p99_latency_ms'],
        },
        leaseTtl: '5s',
      },
    });
  const statusOf = (name: string) =>
    JSON.parse(cluster.kubectl(['get', 'agentrollout', name, '-n', NS, '-o', 'json'])).status ?? {};
  /**
   * `kubectl wait --for=condition=X` as a user runs it, once the operator has written conditions
   * (before any exist, kubectl wait fails at once with a status.conditions accessor error).
   */
  const kubectlWait = async (name: string, condition: string) => {
    await waitFor(
      'the operator to write conditions',
      () => (statusOf(name).conditions ? true : undefined),
      60_000,
    );
    // Not spawnSync: the worker and the operator run in this process and must go on meanwhile.
    const r = await kubectlAsync([
      'wait',
      `agentrollout/${name}`,
      '-n',
      NS,
      `--for=condition=${condition}`,
      '--timeout=120s',
    ]);
    assert.equal(r.status, 0, r.stderr);
  };
  const kubectlAsync = (args: string[]) =>
    new Promise<{ status: number | null; stderr: string }>((resolve) => {
      execFile(
        KUBECTL,
        [`--kubeconfig=${cluster.adminKubeconfig}`, ...args],
        { encoding: 'utf8', timeout: 150_000 },
        (err, _stdout, stderr) =>
          resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
      );
    });
  const kubectlRaw = (args: string[], input?: string) =>
    spawnSync(KUBECTL, [`--kubeconfig=${cluster.adminKubeconfig}`, ...args], {
      encoding: 'utf8',
      input,
      timeout: 150_000,
    });

  before(async function () {
    requirePrerequisites(this, 'kube');
    cluster = await startKubeCluster();
    cluster.kubectl(['apply', '--server-side', '-f', CRD_FILES[0]]);
    await waitEstablished(cluster.kubectl, 'agentrollouts.agent-canary.dev');
    await waitFor(
      'agentrollouts to be served',
      () => (kubectlRaw(['get', 'agentrollouts', '-A']).status === 0 ? true : undefined),
      30_000,
    );
    cluster.kubectl(['create', 'namespace', NS]);
    // The operator's identity, with exactly the Helm chart's operator Role.
    cluster.kubectl(['create', 'serviceaccount', 'operator', '-n', NS]);
    cluster.kubectl([
      'create',
      'role',
      'operator',
      '-n',
      NS,
      '--verb=get,list,watch,patch',
      '--resource=agentrollouts.agent-canary.dev',
    ]);
    cluster.kubectl([
      'create',
      'role',
      'operator-status',
      '-n',
      NS,
      '--verb=patch',
      '--resource=agentrollouts.agent-canary.dev/status',
    ]);
    for (const role of ['operator', 'operator-status'])
      cluster.kubectl([
        'create',
        'rolebinding',
        role,
        '-n',
        NS,
        `--role=${role}`,
        `--serviceaccount=${NS}:operator`,
      ]);
    const token = cluster.kubectl(['create', 'token', 'operator', '-n', NS]).trim();
    operatorKubeconfig = cluster.kubeconfigFor('operator', token);

    const versions = { v1: 'http://127.0.0.1:9/v1', v2: 'http://127.0.0.1:9/v2' };
    gateway = await startGateway({
      config: { agents: Object.fromEntries([good, bad, held].map((a) => [a, { stable: 'v1', versions }])) },
      adminToken: TOKEN,
      ingestToken: null,
      leaseSweepMs: 200,
    });
    feed(good, 0);
    feed(bad, 0.5);
    feed(held, 0);
    worker = await startWorker({
      router: new GatewayRouter({ url: gateway.url, token: TOKEN }),
      metrics: new GatewayMetricsSource({ url: gateway.url, token: TOKEN }),
      notifiers: () => [new RecordingNotifier()],
    });
    operator = new AgentRolloutOperator({
      kube: new KubeClient({ kubeconfig: operatorKubeconfig }),
      temporal: testEnv().client,
      namespace: NS,
      resyncMs: 500,
      log: () => undefined,
    });
    await operator.start();
  });

  after(async () => {
    await operator?.stop();
    await worker?.stop();
    await Promise.all(stopFeeds.map((s) => s()));
    await gateway?.close();
    await cluster?.stop();
  });

  it('kubectl apply starts a rollout that promotes through the gateway; kubectl wait returns on Promoted', async () => {
    cluster.kubectl(['apply', '-f', '-'], resource('good', good, '2s'));
    await kubectlWait('good', 'Promoted');
    const s = statusOf('good');
    assert.equal(s.state, 'promoted');
    assert.equal(s.workflowId, `canary-${good}`);
    const cond = Object.fromEntries(
      (s.conditions as { type: string; status: string }[]).map((c) => [c.type, c.status]),
    );
    assert.deepEqual(cond, { Progressing: 'False', Promoted: 'True', RolledBack: 'False', Ready: 'True' });
    assert.equal(s.observedGeneration, 1);
    // Through the gateway: the canary is the stable version now.
    const split = await new GatewayRouter({ url: gateway.url, token: TOKEN }).getSplit(good);
    assert.deepEqual([split.stable, split.canary], ['v2', null]);
    assert.equal((await getStatus(testEnv().client, good)).state, 'promoted');
  });

  it('a bad canary ends RolledBack, with the reason in status, and all traffic on stable', async () => {
    cluster.kubectl(['apply', '-f', '-'], resource('bad', bad, '30s'));
    await kubectlWait('bad', 'RolledBack');
    const s = statusOf('bad');
    assert.equal(s.state, 'rolled_back');
    assert.match(s.reason, /error_rate/);
    const ready = (s.conditions as { type: string; status: string; reason: string; message: string }[]).find(
      (c) => c.type === 'Ready',
    )!;
    assert.deepEqual([ready.status, ready.reason], ['False', 'RolledBack']);
    assert.match(ready.message, /all traffic on v1/);
    const split = await new GatewayRouter({ url: gateway.url, token: TOKEN }).getSplit(bad);
    assert.deepEqual([split.stable, split.canaryWeight], ['v1', 0]);
  });

  it('annotations command the rollout once per value; deleting the resource aborts it', async () => {
    cluster.kubectl(['apply', '-f', '-'], resource('held', held, '10m'));
    await waitFor('the rollout at 20%', () => (statusOf('held').weight === 20 ? true : undefined), 60_000);
    cluster.kubectl(['annotate', 'agentrollout', 'held', '-n', NS, 'agent-canary.dev/pause=hold for review']);
    await waitFor(
      'the pause to be carried out',
      () => (statusOf('held').state === 'paused' ? true : undefined),
      60_000,
    );
    const pause = statusOf('held').commands.pause;
    assert.deepEqual([pause.value, pause.result], ['hold for review', 'done']);
    const d = (await getStatus(testEnv().client, held)).decisions.find((x) => x.action === 'paused')!;
    assert.match(d.by, /kubectl-annotate via agentrollout\/teams\/held/);

    // Waits for the finalizer, which the operator in this process removes: not spawnSync.
    const deleted = await kubectlAsync(['delete', 'agentrollout', 'held', '-n', NS, '--timeout=120s']);
    assert.equal(deleted.status, 0, deleted.stderr);
    const after = await getStatus(testEnv().client, held);
    assert.equal(after.state, 'aborted');
    assert.match(after.decisions.at(-1)!.reason, /AgentRollout teams\/held was deleted/);
    const split = await new GatewayRouter({ url: gateway.url, token: TOKEN }).getSplit(held);
    assert.deepEqual([split.stable, split.canaryWeight], ['v1', 0]);
  });

  it('the API server refuses what is not a plan, naming the field', () => {
    const doc = YAML.parse(resource('broken', 'broken-bot', '1m'));
    doc.spec.stages[0].weight = 150;
    let r = kubectlRaw(['apply', '-f', '-'], YAML.stringify(doc));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /spec\.stages\[0\]\.weight/);
    doc.spec.stages[0].weight = 20;
    doc.spec.analysis.thresholds = { error_rat: { maxAbsolute: 0.1 } };
    r = kubectlRaw(['apply', '-f', '-'], YAML.stringify(doc));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /keys must be one of/);
    delete doc.spec.analysis.thresholds;
    doc.spec.stagse = [];
    r = kubectlRaw(['apply', '-f', '-'], YAML.stringify(doc));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown field "spec.stagse"/);
  });

  it('the Helm chart renders and its manifests pass a server-side dry run', function () {
    requirePrerequisites(this, 'helm');
    for (const f of readdirSync(PROMETHEUS_OPERATOR_CRDS))
      cluster.kubectl(['apply', '--server-side', '-f', join(PROMETHEUS_OPERATOR_CRDS, f)]);
    cluster.kubectl(['create', 'namespace', 'agent-canary']);
    const { text } = renderChart({
      'gateway.replicas': 3,
      'gateway.databaseUrl': 'postgres://gw:secret@db:5432/gw',
      'gateway.adminToken': 'not-a-real-token-0123456789',
      'serviceMonitor.enabled': true,
      'prometheusRule.enabled': true,
      'worker.router': 'kubernetes',
      'worker.kube.namespace': NS,
    });
    const file = join(cluster.dir, 'rendered.yaml');
    writeFileSync(file, text);
    const r = kubectlRaw(['apply', '--dry-run=server', '-f', file]);
    assert.equal(r.status, 0, r.stderr);
    for (const kind of [
      'deployment.apps/rel-gateway',
      'servicemonitor.monitoring.coreos.com/rel',
      'prometheusrule.monitoring.coreos.com/rel',
      'clusterrole.rbac.authorization.k8s.io/rel-operator',
    ])
      assert.match(r.stdout, new RegExp(`${kind.replace(/\./g, '\\.')} created \\(server dry run\\)`));
  });
});

// The kubernetes router, the lease sweeper and the manifests against a real kube-apiserver (with
// etcd and the Gateway API CRDs): weights written and read back, other rules untouched, RBAC
// refusals and missing objects as non-retryable errors naming the verb or object, outages retried,
// lapsed leases returned to stable. The router authenticates as the worker's ServiceAccount from
// deploy/kubernetes, so the manifests' RBAC is what these tests exercise.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../activities';
import { KubeClient } from '../src/kubernetes/client';
import {
  ANNOTATION,
  HTTPRouteSchema,
  splitPatch,
  targetRules,
  type HTTPRoute,
} from '../src/kubernetes/httproute';
import { RouteApi, RouteConflictError } from '../src/kubernetes/routes';
import { sweepLeases } from '../src/kubernetes/sweeper';
import { KubernetesRouter } from '../src/router/kubernetes';
import { RouterConfigError, type DesiredSplit } from '../src/router/types';
import { freePort } from '../src/temporal/devserver';
import { waitFor } from './gateway-support';
import { parse as parseYaml, stringify } from 'yaml';
import { cli, planFile } from './cli-support';
import { flaggerCanary } from '../src/kubernetes/flagger';
import { resolvePlan } from '../src/plan';
import { FLAGGER_CRDS, startKubeCluster, waitEstablished, type KubeCluster } from './kube-support';
import { requirePrerequisites } from './support/prerequisites';

const NS = 'ai-serving';
const AGENT = 'support-bot';
const MANIFESTS = join(__dirname, '..', 'deploy', 'kubernetes');

const canarySplit = (weight: number, leaseMs: number | null = 60_000): DesiredSplit => ({
  stable: 'v1.3.1',
  canary: 'v1.3.2',
  canaryWeight: weight,
  leaseMs,
  owner: 'canary-support-bot',
});

async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('kubernetes router against a real kube-apiserver', function () {
  this.timeout(120_000);
  let cluster: KubeCluster;
  let workerKubeconfig: string;

  const route = (name = AGENT): HTTPRoute =>
    HTTPRouteSchema.parse(JSON.parse(cluster.kubectl(['get', 'httproute', name, '-n', NS, '-o', 'json'])));
  const weights = (r: HTTPRoute, rule: number) =>
    Object.fromEntries((r.spec.rules![rule].backendRefs ?? []).map((b) => [b.name, b.weight]));
  const tokenFor = (sa: string, ns: string) =>
    cluster.kubectl(['create', 'token', sa, '-n', ns, '--duration=1h']).trim();
  const router = (extra: Partial<ConstructorParameters<typeof KubernetesRouter>[0]> = {}) =>
    new KubernetesRouter({ kubeconfig: workerKubeconfig, namespace: NS, ...extra });
  const resetRoute = () =>
    cluster.kubectl(['replace', '--force', '-f', join(MANIFESTS, 'example', 'httproute.yaml')]);

  before(async function () {
    requirePrerequisites(this, 'kube');
    this.timeout(180_000);
    cluster = await startKubeCluster((l) => process.stderr.write(`    ${l}\n`));
    // The manifests, for real: the example agent first (its namespace holds the Role), then the worker.
    cluster.kubectl(['apply', '-k', join(MANIFESTS, 'example')]);
    cluster.kubectl(['apply', '-k', join(MANIFESTS, 'base')]);
    workerKubeconfig = cluster.kubeconfigFor('worker', tokenFor('agent-canary-worker', 'agent-canary'));
  });

  after(async () => {
    await cluster?.stop();
  });

  beforeEach(function () {
    if (cluster) resetRoute();
  });

  it('the manifests pass server-side dry-run and grant the worker only get, list and patch on HTTPRoutes', () => {
    for (const dir of ['example', 'base']) {
      const out = cluster.kubectl(['apply', '--dry-run=server', '-k', join(MANIFESTS, dir)]);
      assert.match(out, /\(server dry run\)/);
    }
    const sa = 'system:serviceaccount:agent-canary:agent-canary-worker';
    const can = (verb: string, resource: string, ns = NS) => {
      try {
        return cluster.kubectl(['auth', 'can-i', verb, resource, '-n', ns, `--as=${sa}`]).trim();
      } catch (err) {
        return /failed: no\s*$/.test((err as Error).message) ? 'no' : String(err);
      }
    };
    for (const verb of ['get', 'list', 'patch'])
      assert.equal(can(verb, 'httproutes.gateway.networking.k8s.io'), 'yes', verb);
    for (const verb of ['create', 'update', 'delete', 'watch']) {
      assert.equal(can(verb, 'httproutes.gateway.networking.k8s.io'), 'no', verb);
    }
    assert.equal(can('get', 'secrets'), 'no');
    assert.equal(can('patch', 'services'), 'no');
    assert.equal(can('patch', 'httproutes.gateway.networking.k8s.io', 'default'), 'no');
  });

  it("export flagger: the plan as a Flagger Canary that the API server accepts against Flagger's CRD", async () => {
    cluster.kubectl(['apply', '--server-side', '-f', FLAGGER_CRDS]);
    await waitEstablished(cluster.kubectl, 'canaries.flagger.app');
    const plan = resolvePlan({ agent: AGENT, stable: 'v1.3.1', canary: 'v1.3.2', notify: [{ type: 'log' }] });
    const { canary, notExpressed } = flaggerCanary(plan, {
      namespace: NS,
      port: 8000,
      gateways: [{ name: 'agents', namespace: 'gateway-system' }],
    });
    const yaml = stringify(canary);
    let out = '';
    // Discovery of the new kind may lag its Established condition by a moment.
    for (const t = Date.now(); ;) {
      try {
        out = cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], yaml);
        break;
      } catch (err) {
        if (
          !/no matches for kind|the server could not find/.test((err as Error).message) ||
          Date.now() - t > 20_000
        )
          throw err;
      }
    }
    assert.match(out, /canary\.flagger\.app\/support-bot created \(server dry run\)/);
    const spec = canary.spec as {
      analysis: { stepWeights: number[]; threshold: number; interval: string; metrics: unknown[] };
    };
    // Default stages 5%/30m, 25%/1h, 50%/2h checked every minute: one step per check.
    assert.equal(spec.analysis.interval, '1m');
    assert.equal(spec.analysis.stepWeights.length, 30 + 60 + 120);
    assert.deepEqual([...new Set(spec.analysis.stepWeights)], [5, 25, 50]);
    assert.equal(spec.analysis.threshold, plan.analysis.failureLimit);
    assert.deepEqual(spec.analysis.metrics, [
      { name: 'request-success-rate', thresholdRange: { min: 95 }, interval: '1m' },
    ]);
    const missing = notExpressed.join('\n');
    assert.match(
      missing,
      /p99_latency_ms maxRelativeIncrease 1\.5: Flagger compares the canary with fixed ranges/,
    );
    assert.match(missing, /task_success_rate: needs a Flagger MetricTemplate/);
    assert.match(missing, /judge statistical/);
    assert.match(missing, /leaseTtl/);
  });

  it('export flagger carries hooks and approval gates as Flagger webhooks the API server accepts', async () => {
    cluster.kubectl(['apply', '--server-side', '-f', FLAGGER_CRDS]);
    await waitEstablished(cluster.kubectl, 'canaries.flagger.app');
    const hook = (name: string, type: string) => ({
      name,
      type: type as never,
      url: `http://hooks.${NS}/${name}`,
      secretEnv: 'AGENT_CANARY_NOTIFY_HOOKS',
      retries: 1,
      metadata: { cmd: 'hey -z 1m' },
    });
    const plan = resolvePlan({
      agent: AGENT,
      stable: 'v1.3.1',
      canary: 'v1.3.2',
      stages: [
        { weight: 5, observe: '2m', approval: true },
        { weight: 50, observe: '2m', approval: true },
        { weight: 100 },
      ],
      hooks: [hook('smoke', 'pre-rollout'), hook('window', 'confirm-promotion'), hook('page', 'rollback')],
      analysis: { onFail: { default: 'pause', timeout: '30m' } },
      testRoutes: { match: [{ header: 'x-canary', value: 'always' }] },
    });
    const { canary, notExpressed } = flaggerCanary(plan, {
      namespace: NS,
      port: 8000,
      gateways: [{ name: 'agents' }],
    });
    let out = '';
    for (const t = Date.now(); ;) {
      try {
        out = cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], stringify(canary));
        break;
      } catch (err) {
        if (
          !/no matches for kind|the server could not find/.test((err as Error).message) ||
          Date.now() - t > 20_000
        )
          throw err;
      }
    }
    assert.match(out, /created \(server dry run\)/);
    const webhooks = (
      canary.spec as { analysis: { webhooks: { name: string; type: string; url: string }[] } }
    ).analysis.webhooks;
    assert.deepEqual(
      webhooks.map((w) => `${w.name}:${w.type}`),
      [
        'smoke:pre-rollout',
        'window:confirm-promotion',
        'page:event',
        'approval-promotion:confirm-promotion',
        'approval:confirm-traffic-increase',
      ],
    );
    assert.equal(webhooks[3].url, `http://flagger-loadtester.${NS}/gate/check`);
    const missing = notExpressed.join('\n');
    assert.match(missing, /approval on stage 1: Flagger's gate holds every traffic increase/);
    assert.match(missing, /onFail pause: Flagger rolls back at the threshold/);
    assert.match(missing, /testRoutes: Flagger's analysis\.match/);
    assert.match(missing, /hook page \(rollback\)/);
  });

  it('agent-canary export flagger: the Canary on stdout is accepted by the API server, the rest listed on stderr', async () => {
    cluster.kubectl(['apply', '--server-side', '-f', FLAGGER_CRDS]);
    await waitEstablished(cluster.kubectl, 'canaries.flagger.app');
    const file = planFile({
      agent: AGENT,
      stable: 'v1.3.1',
      canary: 'v1.3.2',
      stages: [{ weight: 2.5, observe: '3m' }, { weight: 20, observe: '2m' }, { weight: 100 }],
      analysis: {
        interval: '1m',
        judge: 'thresholds',
        failureLimit: 4,
        metrics: ['error_rate'],
        custom: [
          {
            name: 'costPerTask',
            kind: 'mean',
            direction: 'lower',
            thresholds: { maxRelativeIncrease: 1.2 },
            query: {
              sum: 'sum(agent_task_cost_usd_sum{version="{{version}}"})',
              count: 'sum(agent_task_cost_usd_count{version="{{version}}"})',
            },
          },
        ],
      },
    });
    const res = await cli([
      'export',
      'flagger',
      '-f',
      file,
      '--namespace',
      NS,
      '--target',
      'support-bot-deploy',
      '--port',
      '8000',
      '--gateway',
      'gateway-system/agents',
    ]);
    assert.equal(res.code, 0, res.stderr);
    const canary = parseYaml(res.stdout) as {
      metadata: { namespace: string };
      spec: {
        targetRef: { name: string };
        service: { port: number; gatewayRefs: unknown[] };
        analysis: { stepWeights: number[]; threshold: number; interval: string };
      };
    };
    assert.equal(canary.metadata.namespace, NS);
    assert.equal(canary.spec.targetRef.name, 'support-bot-deploy');
    assert.deepEqual(canary.spec.service.gatewayRefs, [{ name: 'agents', namespace: 'gateway-system' }]);
    // One step per check: 3 checks at 3% (2.5 rounded), 2 at 20%; then Flagger promotes.
    assert.deepEqual(canary.spec.analysis.stepWeights, [3, 3, 3, 20, 20]);
    assert.equal(canary.spec.analysis.threshold, 4);
    assert.equal(canary.spec.analysis.interval, '1m');
    let out = '';
    for (const t = Date.now(); ;) {
      try {
        out = cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], res.stdout);
        break;
      } catch (err) {
        if (
          !/no matches for kind|the server could not find/.test((err as Error).message) ||
          Date.now() - t > 20_000
        )
          throw err;
      }
    }
    assert.match(out, /canary\.flagger\.app\/support-bot created \(server dry run\)/);
    assert.match(res.stderr, /^not expressed in Flagger \(\d+\):/);
    assert.match(res.stderr, /stage weight 2\.5%: Flagger weights are integers \(rounded to 3\)/);
    assert.match(res.stderr, /custom metric costPerTask \(mean\): needs a Flagger MetricTemplate/);
    assert.match(res.stderr, /leaseTtl/);
    assert.doesNotMatch(res.stderr, /gatewayRefs/, 'the gateway was given');

    // A plan error exits 2 naming the field, and writes no manifest.
    const bad = await cli([
      'export',
      'flagger',
      '-f',
      planFile({ agent: AGENT, stable: 'v1', canary: 'v1' }),
    ]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /canary: must differ from stable/);
  });

  it('sets fractional weights on the stable and canary backendRefs, reads them back, leaves other rules untouched', async () => {
    const before = route();
    const applied = await router().setSplit(AGENT, canarySplit(12.34));
    assert.equal(applied.stable, 'v1.3.1');
    assert.equal(applied.canary, 'v1.3.2');
    assert.equal(applied.canaryWeight, 12.34);
    assert.ok(applied.leaseExpiresAt! > Date.now() + 50_000);

    const after = route();
    assert.deepEqual(weights(after, 1), { 'support-bot-v1-3-1': 8766, 'support-bot-v1-3-2': 1234 });
    // The /healthz rule and everything else in the spec are as they were.
    assert.deepEqual(after.spec.rules![0], before.spec.rules![0]);
    assert.deepEqual({ ...after.spec, rules: undefined }, { ...before.spec, rules: undefined });
    const a = after.metadata.annotations!;
    assert.equal(a[ANNOTATION.stable], 'v1.3.1');
    assert.equal(a[ANNOTATION.canary], 'v1.3.2');
    assert.equal(a[ANNOTATION.owner], 'canary-support-bot');
    assert.equal(Date.parse(a[ANNOTATION.leaseExpiresAt]), applied.leaseExpiresAt);
    const full = JSON.parse(
      cluster.kubectl(['get', 'httproute', AGENT, '-n', NS, '-o', 'json', '--show-managed-fields']),
    ) as { metadata: { managedFields: { manager: string; operation: string }[] } };
    const managers = full.metadata.managedFields.map((m) => `${m.manager}/${m.operation}`);
    assert.ok(managers.includes('agent-canary/Update'), `managedFields: ${managers.join(', ')}`);

    const read = await router().getSplit(AGENT);
    assert.equal(read.canaryWeight, 12.34);
    assert.equal(read.leaseExpiresAt, applied.leaseExpiresAt);
    assert.deepEqual(await router().preflight(AGENT, { stable: 'v1.3.1', canary: 'v1.3.2' }), []);
  });

  it('rollback and promotion move all traffic to one Service and drop the lease', async () => {
    const r = router();
    await r.setSplit(AGENT, canarySplit(25));
    const rolledBack = await r.setSplit(AGENT, {
      stable: 'v1.3.1',
      canary: null,
      canaryWeight: 0,
      leaseMs: null,
    });
    assert.equal(rolledBack.canaryWeight, 0);
    assert.equal(rolledBack.leaseExpiresAt, null);
    assert.deepEqual(weights(route(), 1), { 'support-bot-v1-3-1': 10000, 'support-bot-v1-3-2': 0 });
    assert.equal(route().metadata.annotations![ANNOTATION.leaseExpiresAt], undefined);

    await r.setSplit(AGENT, canarySplit(50));
    const promoted = await r.setSplit(AGENT, {
      stable: 'v1.3.2',
      canary: null,
      canaryWeight: 0,
      leaseMs: null,
    });
    assert.equal(promoted.stable, 'v1.3.2');
    assert.deepEqual(weights(route(), 1), { 'support-bot-v1-3-1': 0, 'support-bot-v1-3-2': 10000 });
    // The /healthz rule keeps its single backendRef (weight 1 is the CRD's default).
    assert.deepEqual(weights(route(), 0), { 'support-bot-v1-3-1': 1 });
  });

  it('works with in-cluster service-account credentials (token file, CA, namespace file)', async () => {
    const root = join(cluster.dir, 'pod');
    const sa = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), tokenFor('agent-canary-worker', 'agent-canary'));
    writeFileSync(join(sa, 'ca.crt'), readFileSync(join(cluster.dir, 'certs', 'apiserver.crt')));
    writeFileSync(join(sa, 'namespace'), NS);
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    const url = new URL(cluster.server);
    process.env.KUBERNETES_SERVICE_HOST = url.hostname;
    process.env.KUBERNETES_SERVICE_PORT = url.port;
    try {
      // No namespace option: it comes from the pod's namespace file.
      const r = new KubernetesRouter({ inClusterRoot: root });
      const applied = await r.setSplit(AGENT, canarySplit(5));
      assert.equal(applied.canaryWeight, 5);
      assert.deepEqual(weights(route(), 1), { 'support-bot-v1-3-1': 9500, 'support-bot-v1-3-2': 500 });
    } finally {
      if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
      else process.env.KUBERNETES_SERVICE_HOST = saved.host;
      if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      else process.env.KUBERNETES_SERVICE_PORT = saved.port;
    }
  });

  it('an RBAC refusal is a non-retryable RouterConfigError naming the verb', async () => {
    const nobody = new KubernetesRouter({
      kubeconfig: cluster.kubeconfigFor('nobody', cluster.unprivilegedToken),
      namespace: NS,
    });
    const err = await rejects(nobody.setSplit(AGENT, canarySplit(5)));
    assert.ok(err instanceof RouterConfigError, String(err));
    assert.match(err.message, /forbidden/);
    assert.match(
      err.message,
      /grant the verb "get" on httproutes\.gateway\.networking\.k8s\.io "support-bot"/,
    );

    // An account that may read the route but not patch it: the verb named is "patch".
    cluster.kubectl(['create', 'serviceaccount', 'reader', '-n', NS]);
    cluster.kubectl([
      'create',
      'role',
      'route-reader',
      '-n',
      NS,
      '--verb=get',
      '--resource=httproutes.gateway.networking.k8s.io',
    ]);
    cluster.kubectl([
      'create',
      'rolebinding',
      'route-reader',
      '-n',
      NS,
      '--role=route-reader',
      `--serviceaccount=${NS}:reader`,
    ]);
    const reader = new KubernetesRouter({
      kubeconfig: cluster.kubeconfigFor('reader', tokenFor('reader', NS)),
      namespace: NS,
    });
    const denied = await rejects(reader.setSplit(AGENT, canarySplit(5)));
    assert.ok(denied instanceof RouterConfigError, String(denied));
    assert.match(denied.message, /grant the verb "patch"/);
    assert.deepEqual(weights(route(), 1), { 'support-bot-v1-3-1': 10000, 'support-bot-v1-3-2': 0 });
    const problems = await reader.preflight(AGENT, { stable: 'v1.3.1', canary: 'v1.3.2' });
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0], /may not patch HTTPRoute ai-serving\/support-bot/);
    assert.match(problems[1], /may not list HTTPRoutes in ai-serving \(the lease sweeper\)/);

    // Through the activity, the workflow sees a non-retryable failure.
    const activities = createActivities({ router: nobody, metrics: null as never, notifiers: () => [] });
    const failure = await rejects(activities.setTrafficSplit({ agent: AGENT, desired: canarySplit(5) }));
    assert.ok(failure instanceof ApplicationFailure && failure.nonRetryable, String(failure));
    assert.equal(failure.type, 'RouterConfigError');
  });

  it('a missing route or a missing backendRef is a RouterConfigError naming it', async () => {
    const missing = await rejects(router({ route: 'nope-{agent}' }).setSplit(AGENT, canarySplit(5)));
    assert.ok(missing instanceof RouterConfigError, String(missing));
    assert.match(missing.message, /HTTPRoute "nope-support-bot" not found in namespace "ai-serving"/);

    const noCanary = await rejects(router().setSplit(AGENT, { ...canarySplit(5), canary: 'v9' }));
    assert.ok(noCanary instanceof RouterConfigError, String(noCanary));
    assert.match(noCanary.message, /canary Service "support-bot-v9"/);
    const noStable = await rejects(router().setSplit(AGENT, { ...canarySplit(5), stable: 'v0' }));
    assert.ok(noStable instanceof RouterConfigError, String(noStable));
    assert.match(noStable.message, /stable Service "support-bot-v0"/);
    assert.deepEqual(weights(route(), 1), { 'support-bot-v1-3-1': 10000, 'support-bot-v1-3-2': 0 });

    const problems = await router().preflight(AGENT, { stable: 'v1.3.1', canary: 'v2' });
    assert.equal(problems.length, 1);
    assert.match(problems[0], /support-bot-v2/);
    const noRoute = await router({ route: 'nope' }).preflight(AGENT, { stable: 'v1.3.1', canary: 'v1.3.2' });
    assert.match(noRoute.join('\n'), /HTTPRoute "nope" not found/);

    // Never set by agent-canary: getSplit says so instead of guessing versions.
    cluster.kubectl(['create', '-n', NS, '-f', '-'], routeYaml('plain'));
    const unset = await rejects(router({ route: 'plain' }).getSplit(AGENT));
    assert.ok(unset instanceof RouterConfigError);
    assert.match(unset.message, /no split of agent-canary yet/);
  });

  it('a write based on a stale read is refused as a conflict, never overwriting the newer route', async () => {
    const api = new RouteApi(new KubeClient({ kubeconfig: workerKubeconfig }));
    const stale = await api.get(NS, AGENT);
    cluster.kubectl(['annotate', 'httproute', AGENT, '-n', NS, 'team.example/owner=ml-platform']);
    const rules = targetRules(stale, 'support-bot-v1-3-1', 'support-bot-v1-3-2');
    const err = await rejects(
      api.patch(NS, AGENT, splitPatch(stale, rules, { stable: 5000, canary: 5000 }, {})),
    );
    assert.ok(err instanceof RouteConflictError, String(err));
    assert.deepEqual(weights(route(), 1), { 'support-bot-v1-3-1': 10000, 'support-bot-v1-3-2': 0 });
    // The router re-reads: the split lands and the other party's annotation survives.
    await router().setSplit(AGENT, canarySplit(50));
    assert.deepEqual(weights(route(), 1), { 'support-bot-v1-3-1': 5000, 'support-bot-v1-3-2': 5000 });
    assert.equal(route().metadata.annotations!['team.example/owner'], 'ml-platform');
  });

  it('an unreachable API server is a plain (retryable) error', async () => {
    const port = await freePort();
    const dead = cluster.kubeconfigFor('dead', 'x', `https://127.0.0.1:${port}`);
    const err = await rejects(
      new KubernetesRouter({ kubeconfig: dead, namespace: NS }).setSplit(AGENT, canarySplit(5)),
    );
    assert.ok(!(err instanceof RouterConfigError), String(err));
    assert.match(err.message, /ECONNREFUSED/);
    const activities = createActivities({
      router: new KubernetesRouter({ kubeconfig: dead, namespace: NS }),
      metrics: null as never,
      notifiers: () => [],
    });
    const failure = await rejects(activities.setTrafficSplit({ agent: AGENT, desired: canarySplit(5) }));
    assert.ok(!(failure instanceof ApplicationFailure), 'retried by the activity retry policy');
  });

  it('the sweeper returns a lapsed canary share to stable and leaves live leases alone', async () => {
    const api = new RouteApi(new KubeClient({ kubeconfig: workerKubeconfig }));
    const r = router();
    await r.setSplit(AGENT, canarySplit(30, 60_000));
    // Not lapsed yet: nothing to do.
    assert.deepEqual(await sweepLeases(api, [NS]), { swept: [], errors: [] });
    assert.equal(weights(route(), 1)['support-bot-v1-3-2'], 3000);
    // Seen from a minute later, the lease has lapsed.
    const later = () => Date.now() + 61_000;
    assert.deepEqual(await sweepLeases(api, [NS], later), { swept: [`${NS}/${AGENT}`], errors: [] });
    const swept = route();
    assert.deepEqual(weights(swept, 1), { 'support-bot-v1-3-1': 10000, 'support-bot-v1-3-2': 0 });
    assert.equal(swept.metadata.annotations![ANNOTATION.leaseExpiresAt], undefined);
    assert.match(swept.metadata.annotations![ANNOTATION.note], /lease expired/);
    assert.equal((await r.getSplit(AGENT)).canaryWeight, 0);
    // A second pass finds nothing: the sweep is idempotent.
    assert.deepEqual(await sweepLeases(api, [NS], later), { swept: [], errors: [] });
  });

  it("the sweeper loop ends a terminated rollout's canary share shortly after its lease", async () => {
    const lines: string[] = [];
    // As the worker runs it: beside the router, over the router's namespace.
    const sweeper = router().startLeaseSweeper({ intervalMs: 200, log: (l) => lines.push(l) });
    try {
      const applied = await router().setSplit(AGENT, canarySplit(40, 1_500));
      assert.equal(weights(route(), 1)['support-bot-v1-3-2'], 4000);
      // No renewal follows (as after a terminate): the share must end by itself.
      await waitFor(
        'the sweeper to return the share to stable',
        () => (weights(route(), 1)['support-bot-v1-3-2'] === 0 ? true : undefined),
        20_000,
      );
      const lapseMs = Date.now() - applied.leaseExpiresAt!;
      process.stderr.write(`      canary share ended ${lapseMs} ms after its lease expired\n`);
      assert.ok(lapseMs >= 0, `swept ${-lapseMs} ms before the lease expired`);
      assert.ok(lapseMs < 10_000, `swept ${lapseMs} ms after the lease expired`);
      // The sweeper says what it did (its log line follows the patch's answer).
      await waitFor('the sweeper to log the sweep', () =>
        lines.some((l) => l.includes(`${NS}/${AGENT}: lease expired`)) ? true : undefined,
      );
    } finally {
      await sweeper.stop();
    }
  });
});

function routeYaml(name: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
spec:
  rules:
    - backendRefs:
        - { name: support-bot-v1-3-1, port: 8000, weight: 1 }
        - { name: support-bot-v1-3-2, port: 8000, weight: 0 }
`;
}

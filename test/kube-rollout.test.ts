// Full rollouts whose router is a Gateway API HTTPRoute on a real kube-apiserver: the workflow on the
// real Temporal dev server, the router authenticating as the worker's ServiceAccount from
// deploy/kubernetes, the lease sweeper running beside the worker. Metrics are the steerable source
// of the workflow tests (what the gateway would measure is not the subject here).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { resolvePlan, type ResolvedPlan } from '../src/plan';
import { HTTPRouteSchema } from '../src/kubernetes/httproute';
import type { LeaseSweeper } from '../src/kubernetes/sweeper';
import { KubernetesRouter } from '../src/router/kubernetes';
import { TASK_QUEUE, WORKFLOW_TYPE, workflowIdFor, type RolloutResult } from '../workflows/messages';
import { BROKEN, HEALTHY, RecordingNotifier, SteerableMetrics } from './fakes';
import { waitFor } from './gateway-support';
import { testEnv, uniqueName, withWorker } from './harness';
import { getStatus, sendCommand } from '../src/temporal/rollouts';
import { WorkflowFailedError } from '@temporalio/client';
import { startKubeCluster, type KubeCluster } from './kube-support';
import { requirePrerequisites } from './support/prerequisites';

const NS = 'ai-serving';
const MANIFESTS = join(__dirname, '..', 'deploy', 'kubernetes');
const STABLE_SVC = 'support-bot-v1-3-1';
const CANARY_SVC = 'support-bot-v1-3-2';

describe('rollouts through a Kubernetes HTTPRoute (real kube-apiserver, real Temporal)', function () {
  this.timeout(120_000);
  let cluster: KubeCluster;
  let router: KubernetesRouter;
  let sweeper: LeaseSweeper;

  const weightOf = (service: string): number => {
    const route = HTTPRouteSchema.parse(
      JSON.parse(cluster.kubectl(['get', 'httproute', 'support-bot', '-n', NS, '-o', 'json'])),
    );
    return route.spec.rules![1].backendRefs!.find((r) => r.name === service)!.weight!;
  };
  const canaryWeight = () => weightOf(CANARY_SVC);
  const stableWeight = () => weightOf(STABLE_SVC);

  const plan = (agent: string, leaseTtl = '10s'): ResolvedPlan =>
    resolvePlan({
      agent,
      stable: 'v1.3.1',
      canary: 'v1.3.2',
      stages: [{ weight: 5, observe: '1200ms' }, { weight: 37.5, observe: '1200ms' }, { weight: 100 }],
      analysis: {
        interval: '300ms',
        failureLimit: 2,
        minSamples: 20,
        judge: 'thresholds',
        inconclusiveLimit: 5,
      },
      leaseTtl,
      notify: [{ type: 'log' }],
    });
  const start = (p: ResolvedPlan) =>
    testEnv().client.workflow.start(WORKFLOW_TYPE, {
      args: [p],
      taskQueue: TASK_QUEUE,
      workflowId: workflowIdFor(p.agent),
    });

  before(async function () {
    requirePrerequisites(this, 'kube');
    this.timeout(180_000);
    cluster = await startKubeCluster();
    cluster.kubectl(['apply', '-k', join(MANIFESTS, 'example')]);
    cluster.kubectl(['apply', '-k', join(MANIFESTS, 'base')]);
    const token = cluster.kubectl(['create', 'token', 'agent-canary-worker', '-n', 'agent-canary']).trim();
    // Unique agent names per test (the Temporal server is shared); all of them map to the example route.
    router = new KubernetesRouter({
      kubeconfig: cluster.kubeconfigFor('worker', token),
      namespace: NS,
      route: 'support-bot',
      backend: 'support-bot-{version}',
    });
    sweeper = router.startLeaseSweeper({ intervalMs: 250, log: () => undefined });
    // An account that may read the agents' routes but not patch them (a Role missing one verb).
    cluster.kubectl(['create', 'serviceaccount', 'no-patch', '-n', NS]);
    cluster.kubectl([
      'create',
      'role',
      'route-reader',
      '-n',
      NS,
      '--verb=get,list',
      '--resource=httproutes.gateway.networking.k8s.io',
    ]);
    cluster.kubectl([
      'create',
      'rolebinding',
      'route-reader',
      '-n',
      NS,
      '--role=route-reader',
      `--serviceaccount=${NS}:no-patch`,
    ]);
  });

  after(async () => {
    await sweeper?.stop();
    await cluster?.stop();
  });

  beforeEach(function () {
    if (cluster) cluster.kubectl(['replace', '--force', '-f', join(MANIFESTS, 'example', 'httproute.yaml')]);
  });

  const deps = (metrics: SteerableMetrics) => ({
    router,
    metrics,
    notifiers: () => [new RecordingNotifier()],
  });

  it('promotes a healthy canary: every stage on the route, then all traffic on the new version', async () => {
    const agent = uniqueName('kube-promote');
    const metrics = new SteerableMetrics();
    metrics.set(agent, { rps: 300 });
    const seen = new Set<number>();
    await withWorker(deps(metrics), async () => {
      const h = await start(plan(agent));
      const watching = (async () => {
        while ((await h.describe()).status.name === 'RUNNING') {
          seen.add(canaryWeight());
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const result = (await h.result()) as RolloutResult;
      await watching;
      assert.equal(result.state, 'promoted');
    });
    assert.ok(seen.has(500) && seen.has(3750), `canary weights seen on the route: ${[...seen].join(', ')}`);
    assert.equal(canaryWeight(), 10_000);
    const split = await router.getSplit(agent);
    assert.deepEqual([split.stable, split.canary, split.leaseExpiresAt], ['v1.3.2', null, null]);
  });

  it('rolls a broken canary back: all traffic on stable', async () => {
    const agent = uniqueName('kube-rollback');
    const metrics = new SteerableMetrics();
    metrics.set(agent, { rps: 300, canary: BROKEN, stable: HEALTHY });
    await withWorker(deps(metrics), async () => {
      const result = (await (await start(plan(agent))).result()) as RolloutResult;
      assert.equal(result.state, 'rolled_back');
    });
    assert.equal(stableWeight(), 10_000);
    assert.equal(canaryWeight(), 0);
  });

  it('a terminated rollout runs no code, and its canary share lapses with the lease', async () => {
    const agent = uniqueName('kube-terminate');
    const metrics = new SteerableMetrics();
    metrics.set(agent, { rps: 300 });
    const p = plan(agent, '3s');
    let terminatedAt = 0;
    await withWorker(deps(metrics), async () => {
      const h = await start(p);
      await waitFor(
        'the first stage on the route',
        () => (canaryWeight() === 500 ? true : undefined),
        20_000,
      );
      await h.terminate('test: terminate runs no workflow code');
      terminatedAt = Date.now();
      assert.equal(canaryWeight(), 500, 'the share outlives the workflow until its lease');
    });
    await waitFor('the sweeper to end the share', () => (canaryWeight() === 0 ? true : undefined), 20_000);
    const lapsedAfter = Date.now() - terminatedAt;
    process.stderr.write(`      canary share ended ${lapsedAfter} ms after the terminate (lease 3 s)\n`);
    // Lease (3 s, renewed at the last check before the terminate) + one sweep interval + API calls.
    assert.ok(lapsedAfter < 10_000, `the canary share lasted ${lapsedAfter} ms after the terminate`);
    assert.match((await router.getSplit(agent)).note ?? '', /lease expired/);
  });

  it('an abort takes the canary off the route: 100% stable, the lease annotation gone', async () => {
    const agent = uniqueName('kube-abort');
    const metrics = new SteerableMetrics();
    metrics.set(agent, { rps: 300 });
    const { client } = testEnv();
    await withWorker(deps(metrics), async () => {
      const h = await start(plan(agent, '30s'));
      await waitFor(
        'the first stage on the route',
        () => (canaryWeight() === 500 ? true : undefined),
        20_000,
      );
      const t0 = Date.now();
      // The abort is an Update: it answers once the workflow has taken it.
      await sendCommand(client, agent, 'abort', { reason: 'bad answers in review', by: 'test' });
      const result = (await h.result()) as RolloutResult;
      process.stderr.write(`      abort to stable on the route in ${Date.now() - t0} ms\n`);
      assert.equal(result.state, 'aborted');
      assert.match(result.reason, /bad answers in review/);
      assert.equal((await getStatus(client, agent)).state, 'aborted');
    });
    // On the route itself, not only in the workflow's view: the stable Service takes everything at
    // once (not when the 30 s lease would have lapsed), and no lease is left for the sweeper.
    assert.equal(stableWeight(), 10_000);
    assert.equal(canaryWeight(), 0);
    const split = await router.getSplit(agent);
    assert.deepEqual([split.stable, split.canary, split.leaseExpiresAt], ['v1.3.1', null, null]);
  });

  it('a service account without patch on HTTPRoutes: a configuration error naming the verb and route, the route untouched', async () => {
    const agent = uniqueName('kube-rbac');
    const metrics = new SteerableMetrics();
    metrics.set(agent, { rps: 300 });
    const token = cluster.kubectl(['create', 'token', 'no-patch', '-n', NS]).trim();
    const denied = new KubernetesRouter({
      kubeconfig: cluster.kubeconfigFor('no-patch', token),
      namespace: NS,
      route: 'support-bot',
      backend: 'support-bot-{version}',
    });
    const { client } = testEnv();
    const before = cluster.kubectl(['get', 'httproute', 'support-bot', '-n', NS, '-o', 'jsonpath={.spec}']);
    await withWorker({ ...deps(metrics), router: denied }, async () => {
      const t0 = Date.now();
      const h = await start(plan(agent));
      const err = await h.result().then(
        () => assert.fail('expected the rollout to fail'),
        (e: unknown) => e,
      );
      const took = Date.now() - t0;
      assert.ok(err instanceof WorkflowFailedError, String(err));
      const cause = err.cause?.message ?? '';
      assert.match(cause, /the router refused the split/);
      assert.match(cause, /grant the verb "patch" on httproutes\.gateway\.networking\.k8s\.io "support-bot"/);
      // Non-retryable: it ends at the first refusal, not after a retry budget (minutes).
      assert.ok(took < 20_000, `the refusal took ${took} ms to end the rollout`);
      const s = await getStatus(client, agent);
      assert.equal(s.execution?.status, 'FAILED');
      assert.match(s.execution?.cause ?? '', /grant the verb "patch"/);
    });
    // Nothing was written: all traffic stays on stable, the spec is byte for byte as before.
    assert.equal(stableWeight(), 10_000);
    assert.equal(canaryWeight(), 0);
    assert.equal(
      cluster.kubectl(['get', 'httproute', 'support-bot', '-n', NS, '-o', 'jsonpath={.spec}']),
      before,
    );
  });

  it('patch revoked mid-rollout: the rollout fails naming the verb; the share it could not take back lapses with its lease', async () => {
    const agent = uniqueName('kube-revoked');
    const metrics = new SteerableMetrics();
    metrics.set(agent, { rps: 300 });
    cluster.kubectl(['create', 'serviceaccount', 'revocable', '-n', NS]);
    cluster.kubectl([
      'create',
      'role',
      'route-writer',
      '-n',
      NS,
      '--verb=get,list,patch',
      '--resource=httproutes.gateway.networking.k8s.io',
    ]);
    cluster.kubectl([
      'create',
      'rolebinding',
      'route-writer',
      '-n',
      NS,
      '--role=route-writer',
      `--serviceaccount=${NS}:revocable`,
    ]);
    const token = cluster.kubectl(['create', 'token', 'revocable', '-n', NS]).trim();
    const revocable = new KubernetesRouter({
      kubeconfig: cluster.kubeconfigFor('revocable', token),
      namespace: NS,
      route: 'support-bot',
      backend: 'support-bot-{version}',
    });
    const { client } = testEnv();
    await withWorker({ ...deps(metrics), router: revocable }, async () => {
      const h = await start(plan(agent, '10s'));
      await waitFor(
        'the first stage on the route',
        () => (canaryWeight() === 500 ? true : undefined),
        20_000,
      );
      // Revoke only patch: bind the read-only Role first, then drop the writer's binding.
      cluster.kubectl([
        'create',
        'rolebinding',
        'revocable-reader',
        '-n',
        NS,
        '--role=route-reader',
        `--serviceaccount=${NS}:revocable`,
      ]);
      cluster.kubectl(['delete', 'rolebinding', 'route-writer', '-n', NS]);
      const err = await h.result().then(
        () => assert.fail('expected the rollout to fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError, String(err));
      const s = await getStatus(client, agent);
      assert.equal(s.execution?.status, 'FAILED');
      assert.match(
        s.execution?.cause ?? '',
        /the router refused the (lease renewal|split): .*grant the verb "patch" on httproutes\.gateway\.networking\.k8s\.io "support-bot"/,
      );
      // The workflow's own account of the end says the canary share could not be withdrawn.
      assert.match(s.decisions.at(-1)?.reason ?? '', /refused the stable split/);
    });
    // Nobody with that account can take the share back; the lease still bounds it (the sweeper
    // here runs as the worker's own account, as a separate sweeper Deployment would).
    await waitFor('the sweeper to end the share', () => (canaryWeight() === 0 ? true : undefined), 30_000);
    assert.equal(stableWeight(), 10_000);
    assert.match((await router.getSplit(agent)).note ?? '', /lease expired/);
  });
});

// The worker's rollout metrics: what each observation does to the exposition (pure, a fake clock),
// then a real rollout through the real gateway on the real Temporal server, with the worker's
// /metrics scraped by a real Prometheus: what an operator's dashboard and alerts would read.
import assert from 'node:assert/strict';
import { startGateway, type RunningGateway } from '../src/gateway';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import type { NotifyEvent } from '../src/notify/types';
import { resolvePlan } from '../src/plan';
import { GatewayRouter } from '../src/router/gateway';
import { startRollout } from '../src/temporal/rollouts';
import { serveRolloutMetrics, type MetricsServer } from '../src/temporal/metrics-server';
import { actorKind, RolloutMetrics } from '../src/temporal/rollout-metrics';
import { RecordingNotifier } from './fakes';
import { testEnv, uniqueName, withWorker } from './harness';
import { startPrometheus, type RunningPrometheus } from './prometheus-support';
import { requirePrerequisites } from './support/prerequisites';
import { waitFor } from './gateway-support';

const event = (over: Partial<NotifyEvent>): NotifyEvent => ({
  type: 'started',
  agent: 'bot',
  stable: 'v1',
  canary: 'v2',
  workflowId: 'canary-bot',
  runId: 'r',
  stageIndex: 0,
  stageCount: 3,
  percent: 5,
  reason: '',
  by: 'agent-canary',
  at: new Date(1_000_000).toISOString(),
  ...over,
});

/** The value of one series in Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('rollout metrics (pure)', () => {
  let now = 1_000_000;
  const metrics = () => new RolloutMetrics({ now: () => now });

  it('state, stage, weight and time in stage follow the decisions and checks', async () => {
    now = 1_000_000;
    const m = metrics();
    m.observeDecision(event({}));
    m.observeSplit('bot', { stable: 'v1', canary: 'v2', canaryWeight: 5, leaseMs: 10_000 });
    m.observeCheck(
      {
        agent: 'bot',
        stable: 'v1',
        canary: 'v2',
        since: 1_000_000,
        lease: { stable: 'v1', canary: 'v2', canaryWeight: 5, leaseMs: 10_000 },
        analysis: { intervalMs: 60_000 },
      },
      { metrics: 'ok', verdict: { verdict: 'pass', judge: 'thresholds', reason: 'ok', metrics: [] } },
    );
    m.observeCheck(
      {
        agent: 'bot',
        stable: 'v1',
        canary: 'v2',
        since: 1_000_000,
        lease: { stable: 'v1', canary: 'v2', canaryWeight: 5, leaseMs: 10_000 },
        analysis: { intervalMs: 60_000 },
      },
      { metrics: 'outage', message: 'down' },
    );
    now += 90_000;
    let t = await m.text();
    assert.equal(sample(t, 'agent_canary_rollout_weight{agent="bot"}'), 5);
    assert.equal(sample(t, 'agent_canary_rollout_stage{agent="bot"}'), 1);
    assert.equal(sample(t, 'agent_canary_rollout_stage_seconds{agent="bot"}'), 90);
    assert.equal(sample(t, 'agent_canary_rollout_state{agent="bot",state="progressing"}'), 1);
    assert.equal(sample(t, 'agent_canary_rollout_state{agent="bot",state="paused"}'), 0);
    assert.equal(sample(t, 'agent_canary_rollout_checks_total{agent="bot",verdict="pass"}'), 1);
    assert.equal(sample(t, 'agent_canary_rollout_checks_total{agent="bot",verdict="outage"}'), 1);
    assert.equal(sample(t, 'agent_canary_rollout_info{agent="bot",stable="v1",canary="v2"}'), 1);

    m.observeDecision(event({ type: 'paused', by: 'alice', stageIndex: 0, percent: 5 }));
    m.observeDecision(
      event({ type: 'rolled_back', stageIndex: 0, percent: 0, at: new Date(now).toISOString() }),
    );
    t = await m.text();
    assert.equal(sample(t, 'agent_canary_rollout_state{agent="bot",state="rolled_back"}'), 1);
    assert.equal(sample(t, 'agent_canary_rollout_weight{agent="bot"}'), 0);
    assert.equal(
      sample(t, 'agent_canary_rollout_decisions_total{agent="bot",action="paused",actor="person"}'),
      1,
    );
    assert.equal(
      sample(t, 'agent_canary_rollout_stage_seconds{agent="bot"}'),
      undefined,
      'an ended rollout is in no stage',
    );
    assert.doesNotMatch(t, /alice/, 'who acted is not a label');
  });

  it('gauges of a rollout this worker no longer sees expire; an ended one stays an hour', async () => {
    now = 1_000_000;
    const m = metrics();
    m.observeDecision(event({ agent: 'quiet' }));
    m.observeDecision(event({ agent: 'done' }));
    m.observeDecision(event({ agent: 'done', type: 'promoted', stageIndex: 2, percent: 100 }));
    now += 6 * 60_000;
    let t = await m.text();
    assert.equal(sample(t, 'agent_canary_rollout_weight{agent="quiet"}'), undefined);
    assert.equal(sample(t, 'agent_canary_rollout_weight{agent="done"}'), 100);
    now += 60 * 60_000;
    t = await m.text();
    assert.equal(sample(t, 'agent_canary_rollout_weight{agent="done"}'), undefined);
    // Counters are never dropped: Prometheus' increase() needs them.
    assert.equal(
      sample(t, 'agent_canary_rollout_decisions_total{agent="done",action="promoted",actor="system"}'),
      1,
    );
  });

  it('without notifications: a check says progressing, the split says promoted, a return to stable says nothing false', async () => {
    now = 1_000_000;
    const m = metrics();
    const check = (agent: string) =>
      m.observeCheck(
        {
          agent,
          stable: 'v1',
          canary: 'v2',
          since: now,
          lease: { stable: 'v1', canary: 'v2', canaryWeight: 10, leaseMs: 10_000 },
          analysis: { intervalMs: 1_000 },
        },
        { metrics: 'ok', verdict: { verdict: 'pass', judge: 'thresholds', reason: 'ok', metrics: [] } },
      );
    check('up');
    check('down');
    let t = await m.text();
    assert.equal(sample(t, 'agent_canary_rollout_state{agent="up",state="progressing"}'), 1);
    m.observeSplit('up', { stable: 'v2', canary: null, canaryWeight: 0, leaseMs: null });
    m.observeSplit('down', { stable: 'v1', canary: null, canaryWeight: 0, leaseMs: null });
    t = await m.text();
    assert.equal(sample(t, 'agent_canary_rollout_state{agent="up",state="promoted"}'), 1);
    assert.equal(sample(t, 'agent_canary_rollout_weight{agent="up"}'), 100);
    assert.equal(sample(t, 'agent_canary_rollout_weight{agent="down"}'), 0);
    assert.doesNotMatch(t, /agent_canary_rollout_state\{agent="down"/, 'rolled back or aborted: not said');
  });

  it('actors are a kind, never a name', () => {
    assert.equal(actorKind('agent-canary'), 'system');
    assert.equal(actorKind('kubectl-annotate via agentrollout/teams/support-bot'), 'gitops');
    assert.equal(actorKind('alice@example.com'), 'person');
  });
});

describe('rollout metrics from a real worker, scraped by Prometheus', function () {
  this.timeout(120_000);
  const TOKEN = 'metrics-admin-token-0123456789';
  let gateway: RunningGateway;
  let served: MetricsServer;
  let prom: RunningPrometheus;
  const metrics = new RolloutMetrics();
  const agent = uniqueName('metrics');

  before(async function () {
    requirePrerequisites(this, 'prometheus');
    gateway = await startGateway({
      config: {
        agents: {
          [agent]: { stable: 'v1', versions: { v1: 'http://127.0.0.1:9/v1', v2: 'http://127.0.0.1:9/v2' } },
        },
      },
      adminToken: TOKEN,
      ingestToken: null,
      leaseSweepMs: 200,
    });
    served = await serveRolloutMetrics(metrics, '127.0.0.1:0');
    prom = await startPrometheus({ worker: new URL(served.url).host });
  });
  after(async () => {
    await prom?.close();
    await served?.close();
    await gateway?.close();
  });

  it('a promoted rollout: decisions, checks, stage and weight as Prometheus reads them', async () => {
    // Outcomes as clients that call the agent themselves report them: both versions healthy.
    let stop = false;
    const feeding = (async () => {
      while (!stop) {
        const outcomes = ['v1', 'v2'].flatMap((version) =>
          Array.from({ length: 20 }, (_, i) => ({ version, latencyMs: 100 + (i % 5), error: false })),
        );
        await fetch(`${gateway.url}/v1/agents/${agent}/outcomes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(outcomes),
        });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      const deps = {
        router: new GatewayRouter({ url: gateway.url, token: TOKEN }),
        metrics: new GatewayMetricsSource({ url: gateway.url, token: TOKEN }),
        notifiers: () => [new RecordingNotifier()],
        observe: metrics,
      };
      const plan = resolvePlan({
        agent,
        stable: 'v1',
        canary: 'v2',
        stages: [{ weight: 20, observe: '2s' }, { weight: 100 }],
        analysis: {
          interval: '400ms',
          failureLimit: 2,
          minSamples: 20,
          judge: 'thresholds',
          metrics: ['error_rate', 'p99_latency_ms'],
        },
        leaseTtl: '5s',
        // Decisions reach the worker as notifications: a plan with a target has them.
        notify: [{ type: 'log' }],
      });
      await withWorker(deps, async () => {
        const started = await startRollout(testEnv().client, plan);
        assert.equal((await started.result()).state, 'promoted');
      });
    } finally {
      stop = true;
      await feeding;
    }
    const q = (expr: string) => prom.value(expr);
    const A = `agent="${agent}"`;
    await waitFor(
      'Prometheus to scrape the promotion',
      async () => ((await q(`agent_canary_rollout_state{${A},state="promoted"}`)) === 1 ? true : undefined),
      30_000,
    );
    assert.equal(await q(`agent_canary_rollout_decisions_total{${A},action="promoted",actor="system"}`), 1);
    assert.equal(await q(`agent_canary_rollout_decisions_total{${A},action="started",actor="system"}`), 1);
    assert.ok(
      ((await q(`agent_canary_rollout_checks_total{${A},verdict="pass"}`)) ?? 0) >= 1,
      'passing checks counted',
    );
    assert.equal(await q(`agent_canary_rollout_weight{${A}}`), 100);
    assert.equal(await q(`agent_canary_rollout_stage{${A}}`), 2);
    assert.equal(await q(`agent_canary_rollout_stages{${A}}`), 2);
    const rolledBack = await prom.series(`agent_canary_rollout_decisions_total{${A},action="rolled_back"}`);
    assert.deepEqual(rolledBack, []);
  });
});

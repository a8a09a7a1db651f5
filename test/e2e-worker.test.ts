// End to end: the real gateway as router and metrics source, the workflow on the real server, and
// the worker as a separate `agent-canary worker` process that we kill with SIGKILL mid-window.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { startGateway, type RunningGateway } from '../src/gateway';
import { resolvePlan } from '../src/plan';
import { GatewayRouter } from '../src/router/gateway';
import {
  TASK_QUEUE,
  WORKFLOW_TYPE,
  statusQuery,
  workflowIdFor,
  type RolloutResult,
} from '../workflows/messages';
import { eventually, testEnv, uniqueName } from './harness';

const ROOT = path.join(__dirname, '..');
const TOKEN = 'e2e-admin-token-0123456789';

function spawnWorker(gatewayUrl: string): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin', 'agent-canary.js'),
      'worker',
      '--address',
      testEnv().address,
      '--gateway-url',
      gatewayUrl,
    ],
    { env: { ...process.env, AGENT_CANARY_ADMIN_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM')
      process.stderr.write(`worker exited ${code}: ${err}\n`);
  });
  return child;
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

/** Reports outcomes to the gateway as clients that call agents themselves would, until stopped. */
function feed(gatewayUrl: string, agent: string, canaryErrorRate: () => number) {
  let stopped = false;
  const loop = (async () => {
    for (let round = 0; !stopped && round < 2000; round++) {
      const outcomes = [];
      for (let i = 0; i < 20; i++) {
        outcomes.push({
          version: 'v1',
          latencyMs: 100 + (i % 5),
          error: i === 0 && round % 5 === 0,
          taskSuccess: true,
          qualityScore: 0.9,
        });
        outcomes.push({
          version: 'v2',
          latencyMs: 100 + (i % 5),
          error: i / 20 < canaryErrorRate(),
          taskSuccess: true,
          qualityScore: 0.9,
        });
      }
      await fetch(`${gatewayUrl}/v1/agents/${agent}/outcomes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(outcomes),
      });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

describe('end to end: gateway, worker process, real server', function () {
  this.timeout(120_000);
  let gateway: RunningGateway;
  let agent: string;
  const children: ChildProcess[] = [];

  beforeEach(async function () {
    agent = uniqueName('e2e');
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
  });
  afterEach(async function () {
    await Promise.all(children.splice(0).map((c) => kill(c, 'SIGKILL')));
    await gateway.close();
  });

  const plan = (a: string) =>
    resolvePlan({
      agent: a,
      stable: 'v1',
      canary: 'v2',
      stages: [{ weight: 20, observe: '4s' }, { weight: 100 }],
      analysis: {
        interval: '500ms',
        failureLimit: 2,
        minSamples: 20,
        judge: 'thresholds',
        metrics: ['error_rate', 'p99_latency_ms'],
      },
      leaseTtl: '3s',
    });

  it('a worker killed mid-window is replaced and the new one rolls the degraded canary back', async function () {
    const router = new GatewayRouter({ url: gateway.url, token: TOKEN });
    let canaryErrors = 0;
    const stopFeed = feed(gateway.url, agent, () => canaryErrors);
    try {
      const first = spawnWorker(gateway.url);
      children.push(first);
      const handle = await testEnv().client.workflow.start(WORKFLOW_TYPE, {
        args: [plan(agent)],
        taskQueue: TASK_QUEUE,
        workflowId: workflowIdFor(agent),
      });
      await eventually(
        () => handle.query(statusQuery),
        (s) => s.lastAnalysis?.verdict === 'pass',
        { what: 'a passing check', timeoutMs: 60_000 },
      );
      assert.equal((await router.getSplit(agent)).canaryWeight, 20);

      await kill(first, 'SIGKILL');
      canaryErrors = 0.5; // the canary goes bad while no worker is running
      const second = spawnWorker(gateway.url);
      children.push(second);
      const result = (await handle.result()) as RolloutResult;
      assert.equal(result.state, 'rolled_back');
      const split = await router.getSplit(agent);
      assert.deepEqual([split.stable, split.canary, split.canaryWeight], ['v1', null, 0]);
      // The gateway routes everything to stable again.
      const routed = await (await fetch(`${gateway.url}/v1/agents/${agent}/route?key=abc`)).json();
      assert.equal((routed as { version: string }).version, 'v1');
    } finally {
      await stopFeed();
    }
  });

  it('a terminated rollout (no workflow code runs) falls back to stable when its lease lapses', async function () {
    const router = new GatewayRouter({ url: gateway.url, token: TOKEN });
    const stopFeed = feed(gateway.url, agent, () => 0);
    try {
      const worker = spawnWorker(gateway.url);
      children.push(worker);
      const handle = await testEnv().client.workflow.start(WORKFLOW_TYPE, {
        args: [plan(agent)],
        taskQueue: TASK_QUEUE,
        workflowId: workflowIdFor(agent),
      });
      await eventually(
        () => router.getSplit(agent),
        (s) => s.canaryWeight === 20,
        { what: 'canary at 20%', timeoutMs: 60_000 },
      );
      await handle.terminate('operator pulled the plug');
      const split = await eventually(
        () => router.getSplit(agent),
        (s) => s.canary === null || s.canaryWeight === 0,
        {
          what: 'the lease to lapse',
          timeoutMs: 15_000,
        },
      );
      assert.equal(split.stable, 'v1');
      assert.match(split.note ?? '', /lease/);
    } finally {
      await stopFeed();
    }
  });
});

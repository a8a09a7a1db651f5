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
  pauseUpdate,
  resumeUpdate,
  statusQuery,
  workflowIdFor,
  type RolloutResult,
} from '../workflows/messages';
import { eventually, testEnv, uniqueName } from './harness';

const ROOT = path.join(__dirname, '..');
const TOKEN = 'e2e-admin-token-0123456789';

interface SpawnedWorker extends ChildProcess {
  /** What it printed so far: stdout, and stderr after it. */
  printed: () => { stdout: string; stderr: string };
}

function spawnWorker(gatewayUrl: string): SpawnedWorker {
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
    {
      // The level a user gets by default, whatever the developer's shell says.
      env: { ...process.env, AGENT_CANARY_ADMIN_TOKEN: TOKEN, AGENT_CANARY_LOG_LEVEL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  ) as SpawnedWorker;
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  child.printed = () => ({ stdout: out, stderr: err });
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM')
      process.stderr.write(`worker exited ${code}: ${err.slice(-2000)}\n`);
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

  const planInput = (a: string) => ({
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
  const plan = (a: string) => resolvePlan(planInput(a));

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

  it('the worker prints one readable line per rollout event, and no SDK noise', async function () {
    let canaryErrors = 0;
    const stopFeed = feed(gateway.url, agent, () => canaryErrors);
    try {
      const worker = spawnWorker(gateway.url);
      children.push(worker);
      const handle = await testEnv().client.workflow.start(WORKFLOW_TYPE, {
        // A long window: only the checks end this rollout, never the clock.
        args: [
          resolvePlan({ ...planInput(agent), stages: [{ weight: 20, observe: '5m' }, { weight: 100 }] }),
        ],
        taskQueue: TASK_QUEUE,
        workflowId: workflowIdFor(agent),
      });
      // Lines of this rollout only (the worker serves the whole task queue).
      const lines = () =>
        worker
          .printed()
          .stdout.split('\n')
          .filter((l) => l.includes(` ${agent} v1 -> v2: `));
      const printed = (what: string, line: RegExp) =>
        eventually(lines, (ls) => ls.some((l) => line.test(l)), { what, timeoutMs: 60_000 });
      await printed('the start', /: started, 2 stages$/);
      await printed('stage 1 in place', /: stage 1 of 2: canary at 20%$/);
      await handle.executeUpdate(pauseUpdate, { args: [{ by: 'alice', reason: 'looking at traces' }] });
      await printed(
        'the pause',
        /: paused by alice at 20% \(checks and rollback go on\): looking at traces$/,
      );
      await handle.executeUpdate(resumeUpdate, { args: [{ by: 'alice', reason: 'traces fine' }] });
      await printed('the resume', /: resumed by alice: traces fine$/);
      canaryErrors = 0.5;
      const [rolledBack] = (await printed('the rollback', /: ROLLED BACK, all traffic on v1: /)).filter((l) =>
        /ROLLED BACK/.test(l),
      );
      assert.match(rolledBack, /error_rate/, 'the reason names the metric');
      assert.equal(((await handle.result()) as RolloutResult).state, 'rolled_back');

      const all = lines();
      // Each event once, each a line of its own (no JSON, no continuation lines), in order.
      const said = all.map((l) =>
        l
          .replace(/^.*? v1 -> v2: /, '')
          .split(/[,:(]/)[0]
          .trim(),
      );
      assert.deepEqual(
        said.filter((w) => w !== 'check failed at 20%'),
        ['started', 'stage 1 of 2', 'paused by alice at 20%', 'resumed by alice', 'ROLLED BACK'],
        all.join('\n'),
      );
      // Each failed check before the rollback (failureLimit 2) is a line of its own, with its reason.
      assert.ok(said.includes('check failed at 20%'), all.join('\n'));
      for (const l of all) assert.match(l, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d /);
      // The SDK's own lines (a rollback closes the workflow as Failed) are not printed by default.
      const { stdout, stderr } = worker.printed();
      assert.doesNotMatch(stdout + stderr, /temporal (WARN|INFO)|Workflow failed|task_token/);
      assert.ok(!(stdout + stderr).includes('\u001b['), 'no colour codes');
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

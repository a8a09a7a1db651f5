// How fast the installed command answers: `agent-canary status <agent>` and `agent-canary list`
// against a real dev server with a real rollout in progress (gateway as router and metrics source,
// a worker answering the status query), each run as its own process the way a shell runs it:
// bin/agent-canary.js through its shebang, the file `npm link` / `npm install -g` puts on PATH.
//
//   npm run bench:cli [-- --runs 10]
//   -> cli status_median_ms=212 list_median_ms=190 runs=10 target_ms=300 node=v20.19.0
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { startSimulatedAgent, type SimulatedAgent } from '../src/demo/agents';
import { healthyProfile } from '../src/demo/profiles';
import { startGateway, type RunningGateway } from '../src/gateway';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { createNotifiers } from '../src/notify';
import { resolvePlan } from '../src/plan';
import { GatewayRouter } from '../src/router/gateway';
import { getStatus, startRollout } from '../src/temporal/rollouts';
import { createWorker } from '../src/temporal/worker';

/** The goal for a status answer, start-up included. */
export const TARGET_MS = 300;
export const BIN = join(__dirname, '..', 'bin', 'agent-canary.js');

export interface CliTarget {
  address: string;
  namespace: string;
}

/** One run of the command, wall time from spawn to exit. Throws when it does not exit 0. */
export function timeCommand(target: CliTarget, args: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile(
      BIN,
      args,
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          TEMPORAL_ADDRESS: target.address,
          TEMPORAL_NAMESPACE: target.namespace,
        },
        timeout: 30_000,
      },
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`agent-canary ${args.join(' ')}: ${err.message}\n${stderr}`));
        else resolve(Number(process.hrtime.bigint() - started) / 1e6);
      },
    );
  });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface CliTimes {
  statusMs: number[];
  listMs: number[];
}

/**
 * `runs` timed runs of each command, after one untimed run that fills the transpile cache (what any
 * first command after an install or a `git pull` does once).
 */
export async function measureCli(target: CliTarget, agent: string, runs: number): Promise<CliTimes> {
  await timeCommand(target, ['status', agent]);
  await timeCommand(target, ['list']);
  const times: CliTimes = { statusMs: [], listMs: [] };
  // Interleaved, so a burst of load on a shared machine hits both commands alike.
  for (let i = 0; i < runs; i++) {
    times.statusMs.push(await timeCommand(target, ['status', agent]));
    times.listMs.push(await timeCommand(target, ['list']));
  }
  return times;
}

export function summaryLine(times: CliTimes): string {
  const ms = (v: number) => Math.round(v);
  return (
    `cli status_median_ms=${ms(median(times.statusMs))} list_median_ms=${ms(median(times.listMs))} ` +
    `runs=${times.statusMs.length} target_ms=${TARGET_MS} node=${process.version}`
  );
}

export interface RolloutInProgress {
  agent: string;
  stop(): Promise<void>;
}

/**
 * A rollout that stays in its first stage: two simulated versions behind a real gateway and a worker
 * on the given server, so `status` gets a real answer to its query.
 */
export async function startRolloutInProgress(o: {
  client: Client;
  address: string;
  namespace: string;
  taskQueue?: string;
  /** A bundle made earlier (the test suite's); else the build's, or webpack now. */
  workflowBundle?: WorkflowBundleWithSourceMap;
}): Promise<RolloutInProgress> {
  const closers: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    while (closers.length) await closers.pop()!().catch(() => undefined);
  };
  try {
    const agent = `bench-cli-${randomBytes(4).toString('hex')}`;
    const versions: SimulatedAgent[] = [];
    for (const [i, v] of ['v1', 'v2'].entries()) {
      const sim = await startSimulatedAgent({ ...healthyProfile(v), seed: i + 1 });
      closers.push(() => sim.close());
      versions.push(sim);
    }
    const adminToken = randomBytes(18).toString('base64url');
    const gateway: RunningGateway = await startGateway({
      host: '127.0.0.1',
      adminToken,
      ingestToken: null,
      config: {
        agents: { [agent]: { stable: 'v1', versions: { v1: versions[0].url, v2: versions[1].url } } },
      },
    });
    closers.push(() => gateway.close());
    const connection = await NativeConnection.connect({ address: o.address });
    closers.push(() => connection.close());
    const worker: Worker = await createWorker({
      connection,
      namespace: o.namespace,
      taskQueue: o.taskQueue,
      workflowBundle: o.workflowBundle,
      deps: {
        router: new GatewayRouter({ url: gateway.url, token: adminToken }),
        metrics: new GatewayMetricsSource({ url: gateway.url, token: adminToken }),
        notifiers: () => createNotifiers([]),
      },
      shutdownGraceTime: '1s',
    });
    const running = worker.run();
    closers.push(async () => {
      worker.shutdown();
      await running;
    });
    const plan = resolvePlan({
      agent,
      stable: 'v1',
      canary: 'v2',
      stages: [{ weight: 10, observe: 600_000 }, { weight: 100 }],
      analysis: { interval: 5_000, inconclusiveLimit: 1000 },
      progressDeadline: 3_600_000,
    });
    const started = await startRollout(o.client, plan, { taskQueue: o.taskQueue });
    closers.push(() => o.client.workflow.getHandle(started.workflowId).terminate('cli bench done'));
    // Answered by the worker: the status query works before anything is timed.
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await getStatus(o.client, agent);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    return { agent, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function main(): Promise<void> {
  const runsArg = process.argv.indexOf('--runs');
  const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 10;
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) {
    throw new Error(`--runs must be a whole number from 1 to 1000, got "${process.argv[runsArg + 1]}"`);
  }
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const { startDevServer } = await import('../src/temporal/devserver');
  const { connectClient, resolveConnectionSettings } = await import('../src/temporal/connection');
  const server = await startDevServer({ ui: false, log: (l) => process.stderr.write(`${l}\n`) });
  try {
    const { client, connection } = await connectClient(
      resolveConnectionSettings({ address: server.address, namespace: server.namespace }),
    );
    const rollout = await startRolloutInProgress({
      client,
      address: server.address,
      namespace: server.namespace,
    });
    try {
      const times = await measureCli(server, rollout.agent, runs);
      process.stderr.write(
        `status ms: ${times.statusMs.map(Math.round).join(' ')}\nlist ms:   ${times.listMs.map(Math.round).join(' ')}\n`,
      );
      process.stdout.write(`${summaryLine(times)}\n`);
    } finally {
      await rollout.stop();
      await connection.close();
    }
  } finally {
    await server.stop();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench:cli: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}

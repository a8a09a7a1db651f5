// How fast the installed command answers, as issue 14 asks: `agent-canary status <agent>` (and
// `list`, and `pause`/`resume` on a running rollout) against a real dev server with a real rollout
// in progress (gateway as router and metrics source, a worker answering the status query), each run
// as its own process the way a shell runs it: the command `npm install -g` puts on PATH (installed
// here into a temporary prefix), started through its shebang with the `node` first on PATH.
// The dev server listens as `agent-canary dev` does: the HTTP API on the gRPC port + 10, so the
// command finds it without configuration.
//
//   npm run bench:cli [-- --runs 10] [-- --node ~/.cache/agent-canary/node-v24.../bin/node]
//   -> cli status_median_ms=180 target_ms=300 met=yes list_median_ms=190 pause_median_ms=420 ...
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
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
import { HTTP_PORT_OFFSET } from '../src/temporal/connection';
import { freePort } from '../src/temporal/devserver';
import { getStatus, startRollout } from '../src/temporal/rollouts';
import { createWorker } from '../src/temporal/worker';

/** The goal for a status answer, start-up included (median of 10). */
export const TARGET_MS = 300;
export const ROOT = join(__dirname, '..');
/** The entry `npm link` / `npm install -g` points the command at. */
export const BIN = join(ROOT, 'bin', 'agent-canary.js');

export interface CliTarget {
  address: string;
  namespace: string;
  /** AGENT_CANARY_HTTP_API for the command; unset: its default (gRPC port + 10 on loopback). */
  httpApi?: string;
  /** The command to run (an installed one); BIN by default. */
  bin?: string;
  /** Put first on the command's PATH, so its shebang picks this `node`. */
  nodeDir?: string;
}

function commandEnv(target: CliTarget): NodeJS.ProcessEnv {
  const path = process.env.PATH ?? '';
  return {
    PATH: target.nodeDir ? `${target.nodeDir}${delimiter}${path}` : path,
    HOME: process.env.HOME ?? '',
    TEMPORAL_ADDRESS: target.address,
    TEMPORAL_NAMESPACE: target.namespace,
    ...(target.httpApi ? { AGENT_CANARY_HTTP_API: target.httpApi } : {}),
  };
}

/** One run of the command, wall time from spawn to exit. Throws when it does not exit 0. */
export function timeCommand(target: CliTarget, args: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile(
      target.bin ?? BIN,
      args,
      { env: commandEnv(target), timeout: 30_000 },
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`agent-canary ${args.join(' ')}: ${err.message}\n${stderr}`));
        else resolve(Number(process.hrtime.bigint() - started) / 1e6);
      },
    );
  });
}

/** The version of the `node` the command's shebang finds. */
export function commandNodeVersion(target: CliTarget): string {
  return execFileSync('node', ['--version'], { env: commandEnv(target), encoding: 'utf8' }).trim();
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface CliTimes {
  statusMs: number[];
  listMs: number[];
  /** pause then resume on the running rollout, each run (absent unless asked for). */
  pauseMs: number[];
  resumeMs: number[];
}

/**
 * `runs` timed runs of each command, after one untimed run that fills the transpile and compile
 * caches (what any first command after an install or a `git pull` does once).
 */
export async function measureCli(
  target: CliTarget,
  agent: string,
  runs: number,
  opts: { commands?: boolean } = {},
): Promise<CliTimes> {
  await timeCommand(target, ['status', agent]);
  await timeCommand(target, ['list']);
  const times: CliTimes = { statusMs: [], listMs: [], pauseMs: [], resumeMs: [] };
  // Interleaved, so a burst of load on a shared machine hits all commands alike.
  for (let i = 0; i < runs; i++) {
    times.statusMs.push(await timeCommand(target, ['status', agent]));
    times.listMs.push(await timeCommand(target, ['list']));
    if (opts.commands) {
      times.pauseMs.push(await timeCommand(target, ['pause', agent, '--reason', 'cli bench']));
      times.resumeMs.push(await timeCommand(target, ['resume', agent, '--reason', 'cli bench']));
    }
  }
  return times;
}

export function summaryLine(times: CliTimes, node = process.version): string {
  const ms = (v: number[]) => (v.length ? String(Math.round(median(v))) : '-');
  const status = median(times.statusMs);
  return (
    `cli status_median_ms=${ms(times.statusMs)} target_ms=${TARGET_MS} met=${status <= TARGET_MS ? 'yes' : 'no'} ` +
    `list_median_ms=${ms(times.listMs)}` +
    (times.pauseMs.length
      ? ` pause_median_ms=${ms(times.pauseMs)} resume_median_ms=${ms(times.resumeMs)}`
      : '') +
    ` runs=${times.statusMs.length} node=${node}`
  );
}

/** The command as `npm install -g <repository>` installs it, into a temporary prefix. */
export function installCommand(): { bin: string; remove(): void } {
  const prefix = mkdtempSync(join(tmpdir(), 'agent-canary-bench-'));
  execFileSync(
    'npm',
    ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--ignore-scripts', ROOT],
    { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 },
  );
  return {
    bin: join(prefix, 'bin', 'agent-canary'),
    remove: () => rmSync(prefix, { recursive: true, force: true }),
  };
}

/** A gRPC port whose + 10 (the HTTP API, as `agent-canary dev` places it) is free too. */
async function portPair(): Promise<{ port: number; httpPort: number }> {
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    if (port + HTTP_PORT_OFFSET > 65535) continue;
    const probe = await import('node:net');
    const free = await new Promise<boolean>((resolve) => {
      const srv = probe.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port + HTTP_PORT_OFFSET, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return { port, httpPort: port + HTTP_PORT_OFFSET };
  }
  throw new Error('no free port pair for the dev server');
}

export interface RolloutInProgress {
  agent: string;
  workflowId: string;
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
  /** Between checks (default 5 s); a long one keeps the status still between two reads. */
  analysisIntervalMs?: number;
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
      analysis: { interval: o.analysisIntervalMs ?? 5_000, inconclusiveLimit: 1000 },
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
    return { agent, workflowId: started.workflowId, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const runs = Number(argValue('--runs') ?? 10);
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) {
    throw new Error(`--runs must be a whole number from 1 to 1000, got "${argValue('--runs')}"`);
  }
  const node = argValue('--node');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const { startDevServer } = await import('../src/temporal/devserver');
  const { connectClient, resolveConnectionSettings } = await import('../src/temporal/connection');
  const ports = await portPair();
  const server = await startDevServer({ ui: false, ...ports, log: (l) => process.stderr.write(`${l}\n`) });
  const installed = installCommand();
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
      const target: CliTarget = {
        address: server.address,
        namespace: server.namespace,
        bin: installed.bin,
        nodeDir: node ? dirname(node) : undefined,
      };
      const times = await measureCli(target, rollout.agent, runs, { commands: true });
      const line = (name: string, v: number[]) => `${name.padEnd(7)} ms: ${v.map(Math.round).join(' ')}\n`;
      process.stderr.write(
        line('status', times.statusMs) +
          line('list', times.listMs) +
          line('pause', times.pauseMs) +
          line('resume', times.resumeMs),
      );
      process.stdout.write(`${summaryLine(times, commandNodeVersion(target))}\n`);
    } finally {
      await rollout.stop();
      await connection.close();
    }
  } finally {
    installed.remove();
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

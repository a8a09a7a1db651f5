// `agent-canary demo` as a library: the embedded stack (Temporal dev server, worker, gateway), two
// simulated versions per agent, synthetic traffic with feedback, and two rollouts side by side: a
// healthy canary that should be promoted and a regressed one that should be rolled back.
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { Client, Connection } from '@temporalio/client';
import { hostname } from 'node:os';
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { sdkLogging, sdkLogLevel } from '../cli/sdk-log';
import { startGateway, type RunningGateway } from '../gateway';
import { GatewayMetricsSource } from '../metrics/gateway';
import { createNotifiers } from '../notify';
import { formatDuration, resolvePlan, type ResolvedPlan } from '../plan';
import { GatewayRouter } from '../router/gateway';
import { startDevServer, type DevServer } from '../temporal/devserver';
import { startDashboard, type RunningDashboard } from '../ui/server';
import { getStatus, startRollout } from '../temporal/rollouts';
import { bundleWorkflows, createWorker } from '../temporal/worker';
import type { RolloutState } from '../../workflows/messages';
import { DEMO_RUBRIC, startSimulatedAgent, type SimulatedAgent } from './agents';
import { startLocalEvaluator } from './evaluator';
import { createProgressPrinter, type Printer } from './progress';
import { describeRegression, healthyProfile, regressedProfile, type Regression } from './profiles';
import { endedAsExpected, type DemoRollout } from './result';
import { startTraffic, type Traffic } from './traffic';

export interface DemoOptions {
  regression: Regression;
  /** Observation window of each canary stage. */
  observeMs: number;
  /** Check period inside a window. */
  intervalMs: number;
  /** Requests per second to each agent. */
  rps: number;
  /** Agents answer as SSE token streams (through the gateway's streaming proxy). */
  stream?: boolean;
  /** Leave the stack up after both rollouts ended, until the signal aborts. */
  keepRunning: boolean;
  /** Colours and a live footer (a terminal); plain lines otherwise. */
  tty: boolean;
  /** Start the Temporal Web UI. */
  ui: boolean;
  /** Serve the rollout dashboard (agent-canary ui) on this port; 0 picks a free one, null: none. */
  dashboardPort?: number | null;
  seed?: number;
  /** Where progress lines go. */
  write: (text: string) => void;
  /** Aborting it (Ctrl-C) ends the demo early and tears the stack down. */
  signal?: AbortSignal;
  /** The temporal CLI to run, when not the one findTemporalCli picks. */
  temporalExecutable?: string;
}

export interface DemoResult {
  ok: boolean;
  rollouts: DemoRollout[];
  uiUrl: string | null;
  /** The rollout dashboard, when it was served. */
  dashboardUrl: string | null;
  elapsedMs: number;
}

interface Scenario {
  agent: string;
  expected: RolloutState;
  canaryProfile: (version: string) => ReturnType<typeof healthyProfile>;
}

export const DEMO_AGENTS = { promoted: 'support-bot', rolledBack: 'search-bot' } as const;

/**
 * Larger effects than production defaults: the demo must decide on hundreds of requests, not tens of
 * thousands. Latency gets the widest margin (2x): everything shares one process, often on a busy
 * machine, so event-loop stalls put noise in the tail that a real deployment would not have.
 */
const DEMO_MIN_EFFECT = {
  error_rate: 0.04,
  p99_latency_ms: 1.0,
  task_success_rate: 0.1,
  quality_score: 0.08,
};

/** Share of answers the demo's evaluator grades (both versions alike). */
export const DEMO_SAMPLE = 0.5;

export function demoPlan(agent: string, o: Pick<DemoOptions, 'observeMs' | 'intervalMs'>): ResolvedPlan {
  return resolvePlan({
    agent,
    stable: 'v1',
    canary: 'v2',
    stages: [{ weight: 20, observe: o.observeMs }, { weight: 50, observe: o.observeMs }, { weight: 100 }],
    analysis: {
      interval: o.intervalMs,
      failureLimit: 2,
      minSamples: 30,
      // Checks come every second or two here: the production default (30) would pause in a minute.
      inconclusiveLimit: 1000,
      minEffect: DEMO_MIN_EFFECT,
    },
    // Generous next to the windows: a slow machine should extend stages, not fail the demo.
    progressDeadline: Math.max(10 * 60_000, 20 * o.observeMs),
  });
}

class Teardown {
  private steps: { what: string; fn: () => Promise<unknown> }[] = [];
  add(what: string, fn: () => Promise<unknown>): void {
    this.steps.push({ what, fn });
  }
  /** In reverse order of start; one failing step does not keep the others from running. */
  async run(report: (line: string) => void): Promise<void> {
    while (this.steps.length) {
      const { what, fn } = this.steps.pop()!;
      try {
        await fn();
      } catch (err) {
        report(`could not stop ${what}: ${(err as Error).message}`);
      }
    }
  }
}

function aborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** The SDK logs every worker start at INFO; the demo's own lines say what matters. */
function quietTemporalLogs(write: (text: string) => void): void {
  const level = sdkLogLevel('ERROR');
  try {
    // A rollback closes as Failed, which the SDK logs as a warning; core warns of slow workflow
    // tasks on a busy machine: the demo's own lines tell what happened (AGENT_CANARY_LOG_LEVEL=debug
    // shows the SDK's).
    Runtime.install(sdkLogging(level, (line) => write(`${line}\n`)));
  } catch {
    // Already installed by the host process (tests, another command): keep its logger.
  }
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  quietTemporalLogs(o.write);
  const started = Date.now();
  const out: Printer = createProgressPrinter({ tty: o.tty, write: o.write, startedAt: started });
  const teardown = new Teardown();
  const scenarios: Scenario[] = [
    { agent: DEMO_AGENTS.promoted, expected: 'promoted', canaryProfile: healthyProfile },
    {
      agent: DEMO_AGENTS.rolledBack,
      expected: 'rolled_back',
      canaryProfile: (v) => regressedProfile(o.regression, v),
    },
  ];
  const results: DemoRollout[] = scenarios.map((s) => ({
    agent: s.agent,
    stable: 'v1',
    canary: 'v2',
    expected: s.expected,
    state: 'unfinished',
    reason: '',
    finalSplit: null,
  }));
  let uiUrl: string | null = null;
  let dashboard: RunningDashboard | null = null;

  try {
    out.line(
      `regression for ${DEMO_AGENTS.rolledBack} v2: ${o.regression}, ${describeRegression(o.regression)}`,
    );
    const agents: Record<string, Record<string, SimulatedAgent>> = {};
    for (const s of scenarios) {
      const seed = (o.seed ?? 1) + scenarios.indexOf(s) * 2;
      const stable = await startSimulatedAgent({ ...healthyProfile('v1'), seed });
      teardown.add(`${s.agent} v1`, () => stable.close());
      const canary = await startSimulatedAgent({ ...s.canaryProfile('v2'), seed: seed + 1 });
      teardown.add(`${s.agent} v2`, () => canary.close());
      agents[s.agent] = { v1: stable, v2: canary };
    }

    // Quality and task success come from an evaluator grading the answers, as in production without
    // a feedback pipeline: here a local one speaking the OpenAI protocol (docs/evaluation.md).
    const evaluator = await startLocalEvaluator();
    teardown.add('local evaluator', () => evaluator.close());
    const adminToken = randomBytes(18).toString('base64url');
    const gateway: RunningGateway = await startGateway({
      host: '127.0.0.1',
      adminToken,
      ingestToken: null, // nothing but the demo's own traffic can reach it
      config: {
        agents: Object.fromEntries(
          scenarios.map((s) => [
            s.agent,
            {
              stable: 'v1',
              versions: { v1: agents[s.agent].v1.url, v2: agents[s.agent].v2.url },
              evaluate: {
                url: evaluator.url,
                model: 'local-grader',
                rubric: DEMO_RUBRIC,
                sample: DEMO_SAMPLE,
                maxPerMinute: 100_000,
              },
            },
          ]),
        ),
      },
    });
    teardown.add('gateway', () => gateway.close());
    out.line(
      `gateway on ${gateway.url} (agents ${scenarios.map((s) => s.agent).join(', ')}, versions v1 and v2)`,
    );

    out.line('starting the Temporal dev server...');
    const server: DevServer = await startDevServer({
      ui: o.ui,
      executable: o.temporalExecutable,
      log: (line) => out.line(line),
    });
    teardown.add('Temporal dev server', () => server.stop());
    uiUrl = server.uiUrl;
    out.line(`Temporal dev server on ${server.address}${uiUrl ? `, Web UI: ${uiUrl}` : ''}`);

    const nativeConnection = await NativeConnection.connect({ address: server.address });
    teardown.add('worker connection', () => nativeConnection.close());
    const deps = {
      router: new GatewayRouter({ url: gateway.url, token: adminToken }),
      metrics: new GatewayMetricsSource({ url: gateway.url, token: adminToken }),
      notifiers: () => createNotifiers([]),
    };
    out.line('bundling the workflow code and starting the worker...');
    const worker: Worker = await createWorker({
      connection: nativeConnection,
      namespace: server.namespace,
      deps,
      workflowBundle: await bundleWorkflows(),
      identity: `agent-canary-demo@${hostname()}`,
      shutdownGraceTime: '2s',
    });
    const running = worker.run();
    teardown.add('worker', async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });

    const connection = await Connection.connect({ address: server.address });
    teardown.add('client connection', () => connection.close());
    const client = new Client({ connection, namespace: server.namespace });
    if (o.dashboardPort !== null && o.dashboardPort !== undefined) {
      const d = await startDashboard({
        client,
        token: randomBytes(18).toString('base64url'),
        port: o.dashboardPort,
        temporalUiUrl: uiUrl ?? undefined,
        log: (l) => out.line(l),
      });
      dashboard = d;
      teardown.add('dashboard', () => d.close());
      out.line(`dashboard: ${d.urlWithToken}`);
    }

    const traffic: Record<string, Traffic> = {};
    for (const s of scenarios) {
      traffic[s.agent] = startTraffic({
        gatewayUrl: gateway.url,
        agent: s.agent,
        rps: o.rps,
        sessions: 200,
        feedback: false,
        stream: o.stream ?? false,
        seed: (o.seed ?? 1) + 100 + scenarios.indexOf(s),
        // Bounded even when nobody stops it; --keep-running leaves it up for an hour at most.
        maxDurationMs: o.keepRunning ? 3_600_000 : Math.max(15 * 60_000, 30 * o.observeMs),
      });
      teardown.add(`traffic to ${s.agent}`, () => traffic[s.agent].stop());
    }
    out.line(
      `traffic: ${o.rps} requests/s to each agent${o.stream ? ' (SSE streams)' : ''}; ${DEMO_SAMPLE * 100}% of answers graded by a local evaluator (OpenAI protocol), no feedback posted`,
    );

    // One signal ends every wait on the server (long polls included) before the connections close:
    // Ctrl-C, or a scenario that failed while the other one still waits.
    const cancel = new AbortController();
    // Each long poll of the two rollouts listens on it while it waits; that is not a leak.
    setMaxListeners(100, cancel.signal);
    const onAbort = () => cancel.abort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    teardown.add('abort listener', async () => o.signal?.removeEventListener('abort', onAbort));
    const runScenario = async (s: Scenario, i: number) => {
      const plan = demoPlan(s.agent, o);
      const rollout = await startRollout(client, plan);
      out.event(s.agent, `rollout started: v1 -> v2, expecting ${s.expected.replace('_', ' ')}`);
      const watcher = out.watch(s.agent, () => getStatus(client, s.agent), traffic[s.agent]);
      try {
        const r = await connection.withAbortSignal(cancel.signal, () => rollout.result());
        results[i].state = r.state;
        results[i].reason = r.reason;
      } finally {
        await watcher.stop();
      }
      // From the workflow's result, not the status poll: a poll can miss on a busy machine.
      out.outcome(s.agent, results[i].state, results[i].reason);
      // Verify at the router, not only in the workflow: the gateway really sends no canary traffic.
      const split = await deps.router.getSplit(s.agent);
      const canaryWeight = split.canary ? split.canaryWeight : 0;
      results[i].finalSplit = { stable: split.stable, canary: split.canary, canaryWeight };
      out.event(
        s.agent,
        `gateway split now: ${split.stable} ${100 - canaryWeight}%` +
          (canaryWeight > 0 ? `, ${split.canary} ${canaryWeight}%` : ''),
      );
    };
    const runs = scenarios.map((s, i) =>
      runScenario(s, i).catch((err) => {
        cancel.abort();
        throw err;
      }),
    );
    const settled = await Promise.allSettled(runs);
    const finished = !cancel.signal.aborted;
    const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure && !o.signal?.aborted) throw failure.reason;

    const ok = finished && results.every(endedAsExpected);
    out.summary(results, ok, { uiUrl, namespace: server.namespace, dashboard });

    if (dashboard && !o.keepRunning)
      out.line('the dashboard and these links close with the demo: add --keep-running to look around after');
    if (finished && o.keepRunning) {
      out.line(
        `stack stays up${dashboard ? `: dashboard ${dashboard.url}` : ''}${uiUrl ? `, Web UI ${uiUrl}` : ''}, gateway ${gateway.url}. Ctrl-C to stop.`,
      );
      await aborted(o.signal);
    }
    return {
      ok,
      rollouts: results,
      uiUrl,
      dashboardUrl: dashboard?.url ?? null,
      elapsedMs: Date.now() - started,
    };
  } finally {
    out.close();
    await teardown.run((line) => o.write(`${line}\n`));
  }
}

export function describeWindows(o: Pick<DemoOptions, 'observeMs' | 'intervalMs'>): string {
  return `stages 20% and 50% observed ${formatDuration(o.observeMs)} each, checks every ${formatDuration(o.intervalMs)}`;
}

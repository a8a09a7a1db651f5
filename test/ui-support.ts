// A real rollout stack for the dashboard tests: simulated agent versions (HTTP servers), the real
// gateway as router and metrics source, synthetic traffic with feedback, a worker on the suite's dev
// server, and the dashboard itself. Nothing here stands in for a part: the demo runs the same pieces.
import { randomBytes } from 'node:crypto';
import { startSimulatedAgent, type SimulatedAgent } from '../src/demo/agents';
import { healthyProfile, regressedProfile } from '../src/demo/profiles';
import { demoPlan } from '../src/demo/run';
import { startTraffic, type Traffic } from '../src/demo/traffic';
import { startGateway, type RunningGateway } from '../src/gateway';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { createNotifiers } from '../src/notify';
import { resolvePlan, type ResolvedPlan } from '../src/plan';
import { GatewayRouter } from '../src/router/gateway';
import { startRollout, type Started } from '../src/temporal/rollouts';
import { startDashboard, type RunningDashboard } from '../src/ui/server';
import { createWorker } from '../src/temporal/worker';
import { testEnv, uniqueName, type TestEnv } from './harness';

/** The Temporal server a stack runs on: the suite's, or one of a test's own (with the Web UI). */
export type StackServer = Pick<
  TestEnv,
  'client' | 'nativeConnection' | 'namespace' | 'workflowBundle' | 'uiUrl'
>;

export interface StackAgent {
  name: string;
  /** A canary that should be rolled back (error-rate regression) instead of a healthy one. */
  regressed?: boolean;
}

export interface UiStack {
  agents: Record<string, string>;
  gateway: RunningGateway;
  dashboard: RunningDashboard;
  token: string;
  /** Starts the rollout of one of the stack's agents (by its key). */
  start(key: string, plan?: (agent: string) => ResolvedPlan): Promise<Started>;
  stop(): Promise<void>;
}

/** Short windows: a healthy canary is promoted in well under a minute, a bad one rolled back sooner. */
export function quickPlan(agent: string): ResolvedPlan {
  return demoPlan(agent, { observeMs: 3_000, intervalMs: 1_000 });
}

/** A plan that stays in stage 1 for long: for pausing, aborting, terminating by hand. */
export function longPlan(agent: string): ResolvedPlan {
  const quick = quickPlan(agent);
  return resolvePlan({
    agent,
    stable: 'v1',
    canary: 'v2',
    stages: [{ weight: 20, observe: 600_000 }, { weight: 100 }],
    analysis: {
      interval: 1_000,
      failureLimit: 2,
      minSamples: 30,
      inconclusiveLimit: 1000,
      minEffect: quick.analysis.minEffect,
    },
    progressDeadline: 3_600_000,
  });
}

export async function startUiStack(
  specs: Record<string, StackAgent>,
  on: StackServer = testEnv(),
): Promise<UiStack> {
  const closers: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    while (closers.length) await closers.pop()!().catch(() => undefined);
  };
  try {
    const names: Record<string, string> = {};
    const upstreams: Record<string, { v1: SimulatedAgent; v2: SimulatedAgent }> = {};
    let seed = 1;
    for (const [key, spec] of Object.entries(specs)) {
      names[key] = uniqueName(spec.name);
      const v1 = await startSimulatedAgent({ ...healthyProfile('v1'), seed: seed++ });
      closers.push(() => v1.close());
      const v2 = await startSimulatedAgent({
        ...(spec.regressed ? regressedProfile('errors', 'v2') : healthyProfile('v2')),
        seed: seed++,
      });
      closers.push(() => v2.close());
      upstreams[key] = { v1, v2 };
    }
    const adminToken = randomBytes(18).toString('base64url');
    const gateway = await startGateway({
      host: '127.0.0.1',
      adminToken,
      // The simulated clients post outcomes and feedback without a token, as in dev and demo.
      ingestToken: null,
      config: {
        agents: Object.fromEntries(
          Object.keys(specs).map((key) => [
            names[key],
            { stable: 'v1', versions: { v1: upstreams[key].v1.url, v2: upstreams[key].v2.url } },
          ]),
        ),
      },
    });
    closers.push(() => gateway.close());
    const traffic: Traffic[] = Object.keys(specs).map((key, i) =>
      startTraffic({
        gatewayUrl: gateway.url,
        agent: names[key],
        rps: 40,
        sessions: 100,
        feedback: true,
        seed: 100 + i,
        maxDurationMs: 10 * 60_000,
      }),
    );
    for (const t of traffic) closers.push(() => t.stop());
    // Rollouts still running at the end must not be left to the next suite's workers.
    const started: Started[] = [];
    closers.push(async () => {
      for (const r of started) {
        await on.client.workflow
          .getHandle(r.workflowId)
          .terminate('ui test stack stopped')
          .catch(() => undefined);
      }
    });
    const worker = await createWorker({
      connection: on.nativeConnection,
      namespace: on.namespace,
      workflowBundle: on.workflowBundle,
      shutdownGraceTime: '1s',
      deps: {
        router: new GatewayRouter({ url: gateway.url, token: adminToken }),
        metrics: new GatewayMetricsSource({ url: gateway.url, token: adminToken }),
        notifiers: () => createNotifiers([]),
      },
    });
    const running = worker.run();
    closers.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });
    const token = randomBytes(18).toString('base64url');
    const dashboard = await startDashboard({
      client: on.client,
      token,
      temporalUiUrl: on.uiUrl ?? 'http://127.0.0.1:8233',
      log: (l) => process.stderr.write(`${l}\n`),
    });
    closers.push(() => dashboard.close());
    return {
      agents: names,
      gateway,
      dashboard,
      token,
      start: async (key, plan = quickPlan) => {
        const r = await startRollout(on.client, plan(names[key]));
        started.push(r);
        return r;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

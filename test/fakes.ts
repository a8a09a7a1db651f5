// Steerable in-process backends behind the activity interfaces: the workflow still runs on the real
// server; only the router and the metrics source are doubles, so a test can make a canary sick.
import type { ActivityDeps } from '../activities';
import {
  MetricsConfigError,
  type MetricsQuery,
  type MetricsSource,
  type MetricsWindow,
  type VersionMetrics,
} from '../src/metrics/types';
import type { Notifier, NotifyEvent } from '../src/notify/types';
import { RouterConfigError, type AppliedSplit, type DesiredSplit, type Router } from '../src/router/types';

export class FakeRouter implements Router {
  readonly splits = new Map<string, AppliedSplit>();
  readonly writes: { agent: string; desired: DesiredSplit; at: number }[] = [];
  /** Fail this many calls before succeeding again (an outage of the router). */
  failures = 0;
  /** Every call fails while set (the router is down), as connection refused would. */
  down = false;
  /** Agents this router does not know: a configuration error, as a gateway's 404. */
  readonly unknownAgents = new Set<string>();

  async setSplit(agent: string, desired: DesiredSplit): Promise<AppliedSplit> {
    if (this.unknownAgents.has(agent)) throw new RouterConfigError(`HTTP 404 unknown agent "${agent}"`);
    if (this.down) throw new Error('connect ECONNREFUSED (test router down)');
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error('router unavailable (test outage)');
    }
    const now = Date.now();
    const current = this.splits.get(agent);
    // As the gateway does: a write decided before the one in place is stale and ignored.
    if (
      current?.decidedAt !== undefined &&
      desired.decidedAt !== undefined &&
      desired.decidedAt < current.decidedAt
    ) {
      return current;
    }
    const applied: AppliedSplit = {
      agent,
      stable: desired.stable,
      canary: desired.canary,
      canaryWeight: desired.canary ? desired.canaryWeight : 0,
      leaseExpiresAt: desired.leaseMs ? now + desired.leaseMs : null,
      updatedAt: now,
      ...(desired.decidedAt !== undefined ? { decidedAt: desired.decidedAt } : {}),
    };
    this.splits.set(agent, applied);
    this.writes.push({ agent, desired, at: now });
    return applied;
  }

  async preflight(agent: string): Promise<string[]> {
    return this.unknownAgents.has(agent) ? [`router: HTTP 404 unknown agent "${agent}"`] : [];
  }

  async getSplit(agent: string): Promise<AppliedSplit> {
    const split = this.splits.get(agent);
    if (!split) throw new Error(`unknown agent ${agent}`);
    return split;
  }

  /** The canary's share right now, 0 when the agent is on stable only. */
  canaryWeight(agent: string): number {
    const s = this.splits.get(agent);
    return s && s.canary ? s.canaryWeight : 0;
  }

  weightsSeen(agent: string): number[] {
    return this.writes
      .filter((w) => w.agent === agent)
      .map((w) => (w.desired.canary ? w.desired.canaryWeight : 0));
  }
}

export interface Profile {
  errorRate: number;
  p99: number;
  successRate: number;
  quality: number;
}

export const HEALTHY: Profile = { errorRate: 0.01, p99: 800, successRate: 0.95, quality: 0.8 };
export const BROKEN: Profile = { errorRate: 0.3, p99: 4000, successRate: 0.5, quality: 0.3 };

interface AgentTraffic {
  /** Requests per second each version gets (independent of the split, to keep tests simple). */
  rps: number;
  stable: Profile;
  canary: Profile;
  outage: boolean;
  /** The source never answers (a black-holed address): each fetch hangs. */
  hang?: boolean;
  /** The source refuses the query (wrong token): a configuration error. */
  refuse?: boolean;
}

/** Metrics that follow whatever profile a test sets, scaled by the length of the asked window. */
export class SteerableMetrics implements MetricsSource {
  private readonly agents = new Map<string, AgentTraffic>();
  readonly queries: MetricsQuery[] = [];

  set(agent: string, patch: Partial<AgentTraffic>): void {
    const current = this.agents.get(agent) ?? { rps: 200, stable: HEALTHY, canary: HEALTHY, outage: false };
    this.agents.set(agent, { ...current, ...patch });
  }

  async fetch(q: MetricsQuery): Promise<MetricsWindow> {
    this.queries.push(q);
    const t = this.agents.get(q.agent) ?? { rps: 0, stable: HEALTHY, canary: HEALTHY, outage: false };
    if (t.refuse) throw new MetricsConfigError('HTTP 401 wrong token (test)');
    if (t.hang) return new Promise<never>(() => undefined);
    if (t.outage) throw new Error('metrics backend unavailable (test outage)');
    const seconds = Math.max(0, (q.until - q.since) / 1000);
    const n = Math.round(t.rps * seconds);
    return {
      agent: q.agent,
      since: q.since,
      until: q.until,
      stable: synth(q.stable, t.stable, n),
      canary: synth(q.canary, t.canary, n),
    };
  }
}

function synth(version: string, p: Profile, n: number): VersionMetrics {
  const errors = Math.round(n * p.errorRate);
  const ok = n - errors;
  const fast = Math.round(ok * 0.98);
  return {
    version,
    requests: n,
    errors,
    latencyMs: {
      count: ok,
      p50: ok ? p.p99 / 4 : null,
      p99: ok ? p.p99 : null,
      histogram: ok
        ? [
            [p.p99 / 4, fast],
            [p.p99, ok - fast],
          ]
        : [],
    },
    taskSuccess: { successes: Math.round(n * p.successRate), total: n },
    quality: { count: n, sum: n * p.quality, histogram: n ? [[p.quality, n]] : [] },
  };
}

export class RecordingNotifier implements Notifier {
  readonly name = 'recording';
  readonly events: NotifyEvent[] = [];
  async send(event: NotifyEvent): Promise<void> {
    this.events.push(event);
  }
}

export function fakeDeps(): {
  deps: ActivityDeps;
  router: FakeRouter;
  metrics: SteerableMetrics;
  notifier: RecordingNotifier;
} {
  const router = new FakeRouter();
  const metrics = new SteerableMetrics();
  const notifier = new RecordingNotifier();
  return { deps: { router, metrics, notifiers: () => [notifier] }, router, metrics, notifier };
}

// The lease on Kubernetes. No gateway of ours sits in the traffic path, so nothing expires a canary
// share by itself: every split carries its expiry as an annotation on the HTTPRoute, and this sweeper
// puts 100% back on the stable Service of every route whose lease lapsed. A workflow that is
// terminated (no code runs) stops renewing, and its canary share ends at most one sweep interval
// after the lease. The sweeper needs only the route and its annotations (no plan, no Temporal), so
// it runs in the worker or on its own. Failure modes: docs/kubernetes.md.
import { ANNOTATION, readSplit, splitPatch, splitWeights, targetRules, type HTTPRoute } from './httproute';
import { RouteConflictError, type RouteApi } from './routes';

export interface SweepOutcome {
  /** namespace/name of each route whose canary share was returned to stable. */
  swept: string[];
  /** One line per route (or namespace) that could not be swept; retried at the next sweep. */
  errors: string[];
}

/** Whether the route holds a canary share whose lease lapsed at `now`. */
export function leaseLapsed(route: HTTPRoute, now: number): boolean {
  const s = readSplit(route);
  return s.leaseExpiresAt !== null && s.leaseExpiresAt <= now && s.stableBackend !== null;
}

/** One pass over the namespaces' HTTPRoutes. Never throws: problems are in `errors`. */
export async function sweepLeases(
  api: RouteApi,
  namespaces: string[],
  now: () => number = Date.now,
): Promise<SweepOutcome> {
  const out: SweepOutcome = { swept: [], errors: [] };
  for (const namespace of namespaces) {
    let routes: HTTPRoute[];
    try {
      routes = await api.list(namespace);
    } catch (err) {
      out.errors.push(`${namespace}: ${(err as Error).message}`);
      continue;
    }
    for (const route of routes) {
      if (!leaseLapsed(route, now())) continue;
      const id = `${namespace}/${route.metadata.name}`;
      try {
        if (await returnToStable(api, namespace, route, now)) out.swept.push(id);
      } catch (err) {
        out.errors.push(`${id}: ${(err as Error).message}`);
      }
    }
  }
  return out;
}

async function returnToStable(
  api: RouteApi,
  namespace: string,
  first: HTTPRoute,
  now: () => number,
): Promise<boolean> {
  let route = first;
  for (let attempt = 1; ; attempt++) {
    // Re-checked on every attempt: a conflict may be the workflow renewing the lease.
    if (!leaseLapsed(route, now())) return false;
    const s = readSplit(route);
    const rules = targetRules(route, s.stableBackend!, s.canaryBackend).filter((r) => r.stable >= 0);
    const at = now();
    const ops = splitPatch(route, rules, splitWeights(0), {
      [ANNOTATION.leaseExpiresAt]: null,
      [ANNOTATION.updatedAt]: new Date(at).toISOString(),
      [ANNOTATION.note]: `lease expired at ${new Date(s.leaseExpiresAt!).toISOString()}: canary share returned to stable by the lease sweeper`,
    });
    try {
      await api.patch(namespace, route.metadata.name, ops);
      return true;
    } catch (err) {
      if (!(err instanceof RouteConflictError) || attempt >= 3) throw err;
      route = await api.get(namespace, route.metadata.name);
    }
  }
}

export interface LeaseSweeperOptions {
  api: RouteApi;
  /** Namespaces to sweep, or how to find them (resolved once, at the first sweep). */
  namespaces: string[] | (() => Promise<string[]>);
  /** Time between sweeps; a lapsed share lasts at most this long past its lease. Default 10 s. */
  intervalMs?: number;
  log?: (line: string) => void;
  now?: () => number;
}

export interface LeaseSweeper {
  /** Resolves when the sweep in progress (if any) has finished. */
  stop(): Promise<void>;
  /** Runs one sweep now (also what the timer does). */
  sweepNow(): Promise<SweepOutcome>;
}

/** Sweeps at once and then every intervalMs until stopped. */
export function startLeaseSweeper(options: LeaseSweeperOptions): LeaseSweeper {
  const intervalMs = options.intervalMs ?? 10_000;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<SweepOutcome> | undefined;
  let namespaces: Promise<string[]> | undefined;
  const resolveNamespaces = () =>
    (namespaces ??= Promise.resolve(
      typeof options.namespaces === 'function' ? options.namespaces() : options.namespaces,
    ).catch((err: unknown) => {
      namespaces = undefined; // try again at the next sweep
      throw err;
    }));

  const sweepNow = (): Promise<SweepOutcome> => {
    running ??= resolveNamespaces()
      .then(
        (ns) => sweepLeases(options.api, ns, options.now),
        (err: unknown): SweepOutcome => ({ swept: [], errors: [`namespaces: ${(err as Error).message}`] }),
      )
      .then((outcome) => {
        for (const id of outcome.swept)
          log(`lease sweeper: ${id}: lease expired, canary share returned to stable`);
        for (const e of outcome.errors) log(`lease sweeper: ${e}`);
        return outcome;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const tick = () => {
    void sweepNow().finally(() => {
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  tick();
  return {
    sweepNow,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

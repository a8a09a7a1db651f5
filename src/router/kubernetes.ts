// Router backend over a Gateway API HTTPRoute: the split is the weights of the stable and canary
// Services' backendRefs, so whatever gateway implements the route (Envoy Gateway, Istio, Cilium,
// NGINX Gateway Fabric, GKE...) enforces it. Only the rules that send traffic to one of the two
// Services change; every other rule, match and filter is left as it is.
//
// Each write is a JSON patch under the field manager "agent-canary" that first tests the route's
// resourceVersion, so a concurrent edit is never overwritten: the route is re-read and the split
// applied again. The route is read back afterwards to confirm the weights held.
//
// The lease: the expiry is an annotation written with each split (src/kubernetes/sweeper.ts returns
// lapsed shares to stable); getSplit reports a lapsed, unswept lease in its note.
import { KubeClient, type KubeClientOptions } from '../kubernetes/client';
import {
  ANNOTATION,
  backendName,
  readSplit,
  routeName,
  rulesWith,
  ruleWeights,
  splitPatch,
  splitWeights,
  targetRules,
  type HTTPRoute,
} from '../kubernetes/httproute';
import { RouteApi, RouteConflictError } from '../kubernetes/routes';
import { startLeaseSweeper, type LeaseSweeper } from '../kubernetes/sweeper';
import { RouterConfigError, type AppliedSplit, type DesiredSplit, type Router } from './types';

export interface KubernetesRouterOptions extends KubeClientOptions {
  /** HTTPRoute name; `{agent}` is replaced by the agent's name. Default "{agent}". */
  route?: string;
  /** The route's namespace; default: the kubeconfig context's, or the pod's own. */
  namespace?: string;
  /** Service name of a version's backendRef; `{agent}`, `{version}` replaced. Default "{agent}-{version}". */
  backend?: string;
  /** Field manager recorded in the route's managedFields. */
  fieldManager?: string;
  now?: () => number;
  /** A client to share (with the sweeper); default: one from these options. */
  client?: KubeClient;
}

const CONFLICT_ATTEMPTS = 5;

export class KubernetesRouter implements Router {
  readonly api: RouteApi;
  private readonly now: () => number;
  private readonly routeTemplate: string;
  private readonly backendTemplate: string;

  constructor(private readonly options: KubernetesRouterOptions = {}) {
    this.api = new RouteApi(options.client ?? new KubeClient(options), options.fieldManager);
    this.now = options.now ?? Date.now;
    this.routeTemplate = options.route ?? '{agent}';
    this.backendTemplate = options.backend ?? '{agent}-{version}';
  }

  /** Namespace and name of the agent's route. */
  async routeOf(agent: string): Promise<{ namespace: string; name: string }> {
    return {
      namespace: this.options.namespace ?? (await this.api.client.defaultNamespace()),
      name: routeName(this.routeTemplate, agent),
    };
  }

  /**
   * Starts the lease sweeper over this router's namespace (what the worker runs beside it): lapsed
   * canary shares return to stable within intervalMs of their lease, with no workflow involved.
   */
  startLeaseSweeper(options: { intervalMs?: number; log?: (line: string) => void } = {}): LeaseSweeper {
    return startLeaseSweeper({
      api: this.api,
      namespaces: async () => [this.options.namespace ?? (await this.api.client.defaultNamespace())],
      now: this.now,
      ...options,
    });
  }

  async setSplit(agent: string, desired: DesiredSplit): Promise<AppliedSplit> {
    const { namespace, name } = await this.routeOf(agent);
    const stableBackend = backendName(this.backendTemplate, agent, desired.stable);
    const canaryBackend =
      desired.canary === null ? null : backendName(this.backendTemplate, agent, desired.canary);
    const weights = splitWeights(desired.canary === null ? 0 : desired.canaryWeight);
    const at = this.now();
    const leaseExpiresAt =
      canaryBackend !== null && weights.canary > 0 && desired.leaseMs !== null ? at + desired.leaseMs : null;
    const annotations: Record<string, string | null> = {
      [ANNOTATION.stable]: desired.stable,
      [ANNOTATION.canary]: desired.canary,
      [ANNOTATION.stableBackend]: stableBackend,
      [ANNOTATION.canaryBackend]: canaryBackend,
      [ANNOTATION.leaseExpiresAt]: leaseExpiresAt === null ? null : new Date(leaseExpiresAt).toISOString(),
      [ANNOTATION.owner]: desired.owner ?? null,
      [ANNOTATION.updatedAt]: new Date(at).toISOString(),
      [ANNOTATION.note]: desired.reason ?? null,
    };

    let written = 0;
    for (let attempt = 1; ; attempt++) {
      const route = await this.api.get(namespace, name);
      const rules = checkedRules(route, namespace, stableBackend, canaryBackend);
      written = rules.length;
      try {
        await this.api.patch(namespace, name, splitPatch(route, rules, weights, annotations));
        break;
      } catch (err) {
        if (!(err instanceof RouteConflictError) || attempt >= CONFLICT_ATTEMPTS) throw err;
      }
    }

    // Read back: a controller that owns the route (GitOps, Flagger, Argo Rollouts) may revert us.
    const after = await this.api.get(namespace, name);
    const held = ruleWeights(after, targetRules(after, stableBackend, canaryBackend));
    const expected = canaryBackend === null ? { ...weights, canary: 0 } : weights;
    const bad = held.find((w) => w.stable !== expected.stable || w.canary !== expected.canary);
    if (held.length < written || bad) {
      throw new Error(
        `kubernetes router: HTTPRoute ${namespace}/${name} reads back weights ${JSON.stringify(held)} after writing ${expected.stable}/${expected.canary}: another controller may be managing this route`,
      );
    }
    return this.applied(agent, after);
  }

  async getSplit(agent: string): Promise<AppliedSplit> {
    const { namespace, name } = await this.routeOf(agent);
    return this.applied(agent, await this.api.get(namespace, name), `${namespace}/${name}`);
  }

  async preflight(agent: string, versions: { stable: string; canary: string }): Promise<string[]> {
    const { namespace, name } = await this.routeOf(agent);
    let route: HTTPRoute;
    try {
      route = await this.api.get(namespace, name);
    } catch (err) {
      if (err instanceof RouterConfigError) return [err.message];
      throw err;
    }
    const problems: string[] = [];
    try {
      const stable = backendName(this.backendTemplate, agent, versions.stable);
      const canary = backendName(this.backendTemplate, agent, versions.canary);
      checkedRules(route, namespace, stable, canary);
    } catch (err) {
      if (!(err instanceof RouterConfigError)) throw err;
      problems.push(err.message);
    }
    const needs: [string, string | undefined, string][] = [
      ['patch', name, `patch HTTPRoute ${namespace}/${name}`],
      ['list', undefined, `list HTTPRoutes in ${namespace} (the lease sweeper)`],
    ];
    for (const [verb, object, what] of needs) {
      if (!(await this.api.canI(verb, namespace, object))) {
        problems.push(
          `kubernetes router: the worker's account may not ${what}. Fix: grant the verb "${verb}" on httproutes.gateway.networking.k8s.io in namespace "${namespace}" (see deploy/kubernetes/base/rbac.yaml)`,
        );
      }
    }
    return problems;
  }

  private applied(agent: string, route: HTTPRoute, where?: string): AppliedSplit {
    const s = readSplit(route);
    if (s.stable === null) {
      throw new RouterConfigError(
        `kubernetes router: HTTPRoute ${where ?? route.metadata.name} carries no split of agent-canary yet (no ${ANNOTATION.stable} annotation): start a rollout to set one`,
      );
    }
    const lapsed = s.leaseExpiresAt !== null && s.leaseExpiresAt <= this.now() && s.canaryWeight > 0;
    return {
      agent,
      stable: s.stable,
      canary: s.canary,
      canaryWeight: s.canaryWeight,
      leaseExpiresAt: s.leaseExpiresAt,
      updatedAt: s.updatedAt ?? this.now(),
      ...(lapsed
        ? { note: 'lease expired: the sweeper has not yet returned the canary share to stable' }
        : s.note
          ? { note: s.note }
          : {}),
    };
  }
}

/** The rules to write; a missing Service backendRef is a config error naming it. */
function checkedRules(route: HTTPRoute, namespace: string, stable: string, canary: string | null) {
  const where = `HTTPRoute ${namespace}/${route.metadata.name}`;
  const rules = targetRules(route, stable, canary);
  if (rules.length > 0) return rules;
  const withStable = rulesWith(route, stable);
  if (withStable.length === 0) {
    throw new RouterConfigError(
      `kubernetes router: no rule of ${where} has a backendRef to the stable Service "${stable}". Fix: add the versions' Services as backendRefs of the agent's rule, or set --kube-backend to how your Services are named`,
    );
  }
  if (canary !== null) {
    throw new RouterConfigError(
      `kubernetes router: no rule of ${where} has a backendRef to the canary Service "${canary}" next to "${stable}" (rules ${withStable.join(', ')} send to the stable one). Fix: add "${canary}" to that rule's backendRefs with weight 0`,
    );
  }
  // No canary and the stable Service alone in its rules: all traffic is on stable already.
  return [];
}

// For teams already on Flagger: the Flagger `Canary` (Gateway API provider) closest to a plan, and
// the list of what Flagger cannot express. Flagger advances one step per check interval, so each
// stage's observation window becomes its weight repeated once per interval it lasts.
import type { ResolvedPlan } from '../plan/schema';

export interface FlaggerTarget {
  /** Namespace of the Deployment and the Canary. */
  namespace: string;
  /** The Deployment Flagger manages (default: the agent's name). */
  deployment?: string;
  /** Port of the Service Flagger creates. */
  port: number;
  /** The Gateway(s) the generated HTTPRoute attaches to. */
  gateways: { name: string; namespace?: string }[];
  /** Flagger's load tester (its /gate endpoints stand in for approval gates); default in `namespace`. */
  loadtester?: string;
}

export interface FlaggerExport {
  canary: Record<string, unknown>;
  /** One line per part of the plan the Canary does not carry. */
  notExpressed: string[];
}

/** Flagger's stepWeights list has no documented bound; keep the manifest readable and small. */
const MAX_STEPS = 1000;

export function flaggerCanary(plan: ResolvedPlan, target: FlaggerTarget): FlaggerExport {
  const a = plan.analysis;
  const notExpressed: string[] = [];
  const interval = durationText(a.intervalMs);

  const stepWeights: number[] = [];
  for (const stage of plan.stages) {
    if (stage.weight >= 100) continue; // Flagger promotes after the last step
    if (stage.shadow !== undefined) {
      // Flagger mirrors (`mirror: true`) but never compares the answers: the pairs have no equivalent.
      notExpressed.push(
        `shadow stage (${stage.shadow}% mirrored, judged on preference): Flagger has no pairwise judging; left out`,
      );
      continue;
    }
    const checks = Math.max(1, Math.ceil(stage.observeMs / a.intervalMs));
    for (let i = 0; i < checks; i++) stepWeights.push(Math.round(stage.weight));
    if (!Number.isInteger(stage.weight)) {
      notExpressed.push(
        `stage weight ${stage.weight}%: Flagger weights are integers (rounded to ${Math.round(stage.weight)})`,
      );
    }
  }
  if (stepWeights.length > MAX_STEPS) {
    notExpressed.push(
      `${stepWeights.length} steps: a stage's observation is repeated once per interval (${interval})`,
    );
  }

  const metrics: Record<string, unknown>[] = [];
  for (const metric of a.metrics) {
    const t = a.thresholds[metric] ?? {};
    const relative = [
      t.maxRelativeIncrease !== undefined ? `maxRelativeIncrease ${t.maxRelativeIncrease}` : null,
      t.maxRelativeDecrease !== undefined ? `maxRelativeDecrease ${t.maxRelativeDecrease}` : null,
    ].filter(Boolean);
    if (relative.length > 0) {
      notExpressed.push(
        `${metric} ${relative.join(', ')}: Flagger compares the canary with fixed ranges, not with stable`,
      );
    }
    if (metric === 'error_rate' && t.maxAbsolute !== undefined) {
      metrics.push({
        name: 'request-success-rate',
        thresholdRange: { min: round((1 - t.maxAbsolute) * 100) },
        interval,
      });
    } else if (metric === 'p99_latency_ms' && t.maxAbsolute !== undefined) {
      metrics.push({ name: 'request-duration', thresholdRange: { max: round(t.maxAbsolute) }, interval });
    } else if (metric === 'task_success_rate' || metric === 'quality_score') {
      notExpressed.push(
        `${metric}: needs a Flagger MetricTemplate over your own series (no built-in metric)`,
      );
    } else if (relative.length === 0) {
      notExpressed.push(`${metric}: no absolute threshold in the plan, so no Flagger check`);
    }
  }

  for (const m of a.custom ?? []) {
    notExpressed.push(
      `custom metric ${m.name} (${m.kind}): needs a Flagger MetricTemplate with its query and a fixed thresholdRange`,
    );
  }

  if (a.judge === 'statistical') {
    notExpressed.push(
      `judge statistical (sequential test, alpha ${a.alpha}): Flagger checks each interval against thresholds, as the thresholds judge`,
    );
  }
  notExpressed.push(
    `minSamples ${a.minSamples}: Flagger has no sample-size floor; a check with little data passes or fails on it`,
    `inconclusiveLimit ${a.inconclusiveLimit}: Flagger does not pause on thin data`,
    `leaseTtl ${durationText(plan.leaseTtlMs)}: Flagger's weights carry no expiry`,
    `versions ${plan.stable} -> ${plan.canary}: Flagger starts a rollout when the Deployment's pod spec changes; set the canary version's image on it`,
  );
  if (plan.notify.length > 0)
    notExpressed.push('notify: configure Flagger alerts (AlertProvider) separately');
  const gates = flaggerGates(plan, target);
  notExpressed.push(...gates.notExpressed);

  const canary = {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name: plan.agent, namespace: target.namespace },
    spec: {
      provider: 'gatewayapi:v1',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target.deployment ?? plan.agent },
      progressDeadlineSeconds: Math.ceil(plan.progressDeadlineMs / 1000),
      service: {
        port: target.port,
        gatewayRefs: target.gateways.map((g) => ({
          name: g.name,
          ...(g.namespace ? { namespace: g.namespace } : {}),
        })),
      },
      analysis: {
        interval,
        threshold: a.failureLimit,
        stepWeights: stepWeights.length > 0 ? stepWeights : [100],
        metrics,
        ...(gates.webhooks.length > 0 ? { webhooks: gates.webhooks } : {}),
      },
    },
  };
  return { canary, notExpressed };
}

/**
 * Hooks and approval gates as Flagger webhooks (docs/gates.md has the mapping). Flagger's confirm
 * webhooks wait for a 200 where ours fail a check; approvals become the load tester's gate, which
 * Flagger asks before every traffic increase (or before the promotion) rather than at one stage.
 */
export function flaggerGates(
  plan: ResolvedPlan,
  target: Pick<FlaggerTarget, 'namespace' | 'loadtester'>,
): { webhooks: Record<string, unknown>[]; notExpressed: string[] } {
  const webhooks: Record<string, unknown>[] = [];
  const notExpressed: string[] = [];
  for (const h of plan.hooks ?? []) {
    const type = h.type === 'rollback' ? 'event' : h.type;
    webhooks.push({
      name: h.name,
      type,
      url: h.url,
      timeout: durationText(h.timeout),
      ...(h.retries > 0 ? { retries: h.retries } : {}),
      ...(h.metadata ? { metadata: h.metadata } : {}),
    });
    if (h.type === 'rollback') {
      notExpressed.push(
        `hook ${h.name} (rollback): Flagger's rollback webhook triggers a rollback rather than announcing one; exported as an event webhook (called on every event)`,
      );
    }
    if (h.type === 'confirm-traffic-increase' || h.type === 'confirm-promotion') {
      notExpressed.push(
        `hook ${h.name} (${h.type}): Flagger waits for a 200 and asks again each interval; agent-canary counts a non-2xx answer as a failed check`,
      );
    }
  }
  if (webhooks.length > 0) {
    notExpressed.push('hook signatures: Flagger does not sign webhook calls (check the caller another way)');
  }
  const stages = plan.stages;
  const gated = stages.map((st, i) => (st.approval ? i : -1)).filter((i) => i >= 0);
  if (gated.length > 0) {
    const base = (target.loadtester ?? `http://flagger-loadtester.${target.namespace}/`).replace(/\/?$/, '/');
    const beforePromotion = gated.includes(stages.length - 2);
    const earlier = gated.filter((i) => i !== stages.length - 2);
    if (beforePromotion) {
      webhooks.push({ name: 'approval-promotion', type: 'confirm-promotion', url: `${base}gate/check` });
    }
    if (earlier.length > 0) {
      webhooks.push({ name: 'approval', type: 'confirm-traffic-increase', url: `${base}gate/check` });
      notExpressed.push(
        `approval on stage ${earlier.map((i) => i + 1).join(', ')}: Flagger's gate holds every traffic increase, not one stage; open it with the load tester's /gate/open`,
      );
    }
    notExpressed.push(
      'approve: Flagger records no approver; open the gate with POST <load tester>/gate/open',
    );
  }
  const onFail = plan.analysis.onFail;
  if (onFail && Object.entries(onFail).some(([k, v]) => k !== 'timeout' && v === 'pause')) {
    notExpressed.push(
      'analysis.onFail pause: Flagger rolls back at the threshold; it has no pause on a failed check',
    );
  }
  if (plan.testRoutes) {
    notExpressed.push(
      "testRoutes: Flagger's analysis.match (headers, cookies) exists only for A/B testing (iterations), not beside stepWeights",
    );
  }
  if (plan.notify.some((t) => t.type === 'slack' && t.buttons)) {
    notExpressed.push('Slack buttons: Flagger alerts carry no actions');
  }
  return { webhooks, notExpressed };
}

/** Go duration text as Flagger parses it: whole seconds ("90s", "5m", "1h"). */
function durationText(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

function round(x: number): number {
  return Number(x.toFixed(4));
}

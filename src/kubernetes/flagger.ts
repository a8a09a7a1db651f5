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
      },
    },
  };
  return { canary, notExpressed };
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

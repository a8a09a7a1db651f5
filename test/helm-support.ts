// Helm for the chart tests: built from the Go module proxy by .ci/helm.sh into the per-user cache.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';

export const HELM_CACHE =
  process.env.AGENT_CANARY_HELM_CACHE ?? join(homedir(), '.cache', 'agent-canary', 'helm');
export const HELM = join(HELM_CACHE, 'bin', 'helm');
export const CHART = join(__dirname, '..', 'deploy', 'helm', 'agent-canary');
/** ServiceMonitor and PrometheusRule CRDs, fetched by .ci/helm.sh. */
export const PROMETHEUS_OPERATOR_CRDS = join(HELM_CACHE, 'crds', 'prometheus-operator-v0.88.0');

/** Why helm cannot run here, or null. */
export function helmMissing(): string | null {
  return existsSync(HELM) ? null : `helm not built (${HELM} missing): run \`bash .ci/helm.sh\``;
}

export function helm(args: string[]): { status: number | null; out: string; stdout: string } {
  const r = spawnSync(HELM, args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** `helm template` of the chart with `--set` values; throws with helm's output when it fails. */
export function renderChart(set: Record<string, string | number | boolean> = {}, namespace = 'agent-canary') {
  const args = ['template', 'rel', CHART, '-n', namespace, '--kube-version', '1.33.13'];
  for (const [k, v] of Object.entries(set)) args.push('--set', `${k}=${v}`);
  const r = helm(args);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.out}`);
  return {
    text: r.stdout,
    objects: YAML.parseAllDocuments(r.stdout)
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null),
  };
}

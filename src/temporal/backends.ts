// Which router, metrics source and notifiers a worker uses, from flags or the environment.
import { z } from 'zod';
import type { ActivityDeps } from '../../activities';
import { GatewayMetricsSource } from '../metrics/gateway';
import { PrometheusMetricsSource } from '../metrics/prometheus';
import { loadQueryConfig, PrometheusQueryMetricsSource } from '../metrics/prometheus-query';
import { MetricsConfigError } from '../metrics/types';
import { createNotifiers } from '../notify';
import { GatewayRouter } from '../router/gateway';
import { KubernetesRouter } from '../router/kubernetes';
import { WebhookRouter } from '../router/webhook';
import { SettingsError } from './errors';
import { checkOutboundUrl } from '../outbound';
import { problemLines, problemsFromZod } from '../text/zod-problems';

/** A URL the worker will call: checked at start (http(s), no credentials), not at the first call. */
const OutboundUrlSetting = z.string().superRefine((raw, ctx) => {
  try {
    checkOutboundUrl(raw);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

export const BackendSettingsSchema = z
  .object({
    router: z.enum(['gateway', 'webhook', 'kubernetes']).default('gateway'),
    metrics: z.enum(['gateway', 'prometheus', 'prometheus-query']).default('gateway'),
    gatewayUrl: OutboundUrlSetting.optional(),
    gatewayToken: z.string().min(1).optional(),
    routerUrl: OutboundUrlSetting.optional(),
    routerSecret: z.string().min(16, 'must be at least 16 characters').optional(),
    prometheusUrl: OutboundUrlSetting.optional(),
    prometheusSelector: z.string().optional(),
    /** With --router kubernetes: a kubeconfig path (default $KUBECONFIG, ~/.kube/config, in-cluster). */
    kubeconfig: z.string().min(1).optional(),
    kubeContext: z.string().min(1).optional(),
    /** The HTTPRoutes' namespace (default: the kubeconfig context's, or the pod's). */
    kubeNamespace: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes namespace name')
      .max(63)
      .optional(),
    /** HTTPRoute name, {agent} replaced. */
    kubeRoute: z.string().min(1).max(253).default('{agent}'),
    /** Service name of a version's backendRef, {agent} and {version} replaced. */
    kubeBackend: z
      .string()
      .min(1)
      .max(253)
      .refine((t) => t.includes('{version}'), 'must contain {version}')
      .default('{agent}-{version}'),
    /** With --metrics prometheus-query: the YAML/JSON file of query templates. */
    prometheusQueries: z.string().min(1).optional(),
    uiUrl: z.string().url().optional(),
    /** The dashboard (`agent-canary ui`) base URL, for links to a rollout's page in notifications. */
    dashboardUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      // Links go to people's chat: a user:password in them would be a leaked credential.
      .refine(
        (u) => !URL.canParse(u) || (!new URL(u).username && !new URL(u).password),
        'must not carry credentials',
      )
      .optional(),
    namespace: z.string().default('default'),
  })
  .superRefine((s, ctx) => {
    const need = (field: keyof typeof s, flag: string, env: string, why: string) => {
      if (!s[field])
        ctx.addIssue({ code: 'custom', path: [field], message: `${flag} (or ${env}) is required ${why}` });
    };
    if (s.router === 'gateway' || s.metrics === 'gateway') {
      need('gatewayUrl', '--gateway-url', 'AGENT_CANARY_GATEWAY_URL', 'for the gateway backends');
      need('gatewayToken', '--gateway-token', 'AGENT_CANARY_ADMIN_TOKEN', 'for the gateway admin API');
    }
    if (s.router === 'webhook') {
      need('routerUrl', '--router-url', 'AGENT_CANARY_ROUTER_URL', 'with --router webhook');
      need('routerSecret', '--router-secret', 'AGENT_CANARY_ROUTER_SECRET', 'with --router webhook');
    }
    if (s.metrics === 'prometheus') {
      need('prometheusUrl', '--prometheus-url', 'AGENT_CANARY_PROMETHEUS_URL', 'with --metrics prometheus');
    }
    if (s.metrics === 'prometheus-query') {
      need(
        'prometheusUrl',
        '--prometheus-url',
        'AGENT_CANARY_PROMETHEUS_URL',
        'with --metrics prometheus-query',
      );
      need(
        'prometheusQueries',
        '--prometheus-queries',
        'AGENT_CANARY_PROMETHEUS_QUERIES',
        'with --metrics prometheus-query',
      );
    }
  });
export type BackendSettings = z.infer<typeof BackendSettingsSchema>;
export type BackendFlags = Partial<Record<keyof BackendSettings, string>>;

const ENV: Record<keyof BackendSettings, string> = {
  router: 'AGENT_CANARY_ROUTER',
  metrics: 'AGENT_CANARY_METRICS',
  gatewayUrl: 'AGENT_CANARY_GATEWAY_URL',
  gatewayToken: 'AGENT_CANARY_ADMIN_TOKEN',
  routerUrl: 'AGENT_CANARY_ROUTER_URL',
  routerSecret: 'AGENT_CANARY_ROUTER_SECRET',
  prometheusUrl: 'AGENT_CANARY_PROMETHEUS_URL',
  prometheusSelector: 'AGENT_CANARY_PROMETHEUS_SELECTOR',
  kubeconfig: 'AGENT_CANARY_KUBECONFIG',
  kubeContext: 'AGENT_CANARY_KUBE_CONTEXT',
  kubeNamespace: 'AGENT_CANARY_KUBE_NAMESPACE',
  kubeRoute: 'AGENT_CANARY_KUBE_ROUTE',
  kubeBackend: 'AGENT_CANARY_KUBE_BACKEND',
  prometheusQueries: 'AGENT_CANARY_PROMETHEUS_QUERIES',
  uiUrl: 'AGENT_CANARY_UI_URL',
  dashboardUrl: 'AGENT_CANARY_DASHBOARD_URL',
  namespace: 'TEMPORAL_NAMESPACE',
};

/** Flags win over the environment; every problem is reported at once, naming its flag. */
export function resolveBackendSettings(
  flags: BackendFlags,
  env: NodeJS.ProcessEnv = process.env,
): BackendSettings {
  const raw: Record<string, string | undefined> = {};
  for (const key of Object.keys(ENV) as (keyof BackendSettings)[])
    raw[key] = flags[key] ?? (env[ENV[key]] || undefined);
  const parsed = BackendSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new SettingsError(`worker backends:\n${problemLines(problemsFromZod(parsed.error, 'settings'))}`);
  }
  return parsed.data;
}

export function createBackends(s: BackendSettings): ActivityDeps {
  const router =
    s.router === 'kubernetes'
      ? new KubernetesRouter({
          kubeconfig: s.kubeconfig,
          context: s.kubeContext,
          namespace: s.kubeNamespace,
          route: s.kubeRoute,
          backend: s.kubeBackend,
        })
      : s.router === 'webhook'
        ? new WebhookRouter({ url: s.routerUrl!, secret: s.routerSecret! })
        : new GatewayRouter({ url: s.gatewayUrl!, token: s.gatewayToken! });
  const metrics =
    s.metrics === 'prometheus-query'
      ? prometheusQuerySource(s)
      : s.metrics === 'prometheus'
        ? new PrometheusMetricsSource({ url: s.prometheusUrl!, selector: s.prometheusSelector })
        : new GatewayMetricsSource({ url: s.gatewayUrl!, token: s.gatewayToken! });
  return {
    router,
    metrics,
    notifiers: (targets) =>
      createNotifiers(targets, { uiUrl: s.uiUrl, dashboardUrl: s.dashboardUrl, namespace: s.namespace }),
  };
}

/** The query file is read and validated at startup: a bad template stops the worker, naming it. */
function prometheusQuerySource(s: BackendSettings): PrometheusQueryMetricsSource {
  try {
    return new PrometheusQueryMetricsSource({
      url: s.prometheusUrl!,
      config: loadQueryConfig(s.prometheusQueries!),
    });
  } catch (err) {
    if (err instanceof MetricsConfigError) throw new SettingsError(`worker backends: ${err.message}`);
    throw err;
  }
}

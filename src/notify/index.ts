// Builds the notifiers for a plan's notify targets: this is ActivityDeps.notifiers.
import type { NotifyTarget } from '../plan/schema';
import { checkOutboundUrl, type OutboundPolicy } from '../outbound';
import { redact, type DeliveryPolicy } from './deliver';
import { notifyEnvProblem } from './env-policy';
import { LogNotifier, type LineWriter } from './log';
import { SlackNotifier } from './slack';
import type { Notifier } from './types';
import { WebhookNotifier } from './webhook';

export * from './types';
export { DEFAULT_DELIVERY, type DeliveryPolicy } from './deliver';
export { NOTIFY_ENV_PREFIX, notifyEnvProblem } from './env-policy';
export {
  formatMetricValue,
  formatMetricLine,
  formatVerdict,
  rolloutUrl,
  dashboardRolloutUrl,
} from './format';
export { LogNotifier, type LineWriter } from './log';
export { SlackNotifier, slackMessage } from './slack';
export {
  WebhookNotifier,
  verifySignature,
  sign,
  HEADER_DELIVERY,
  HEADER_EVENT,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
} from './webhook';

export interface NotifierOptions {
  /** Temporal Web UI base URL, for links to the rollout. */
  uiUrl?: string;
  /** agent-canary dashboard base URL, for links to the rollout's page (where the actions are). */
  dashboardUrl?: string;
  namespace?: string;
  /** Where log targets write their JSON lines (default stdout). */
  log?: LineWriter;
  delivery?: DeliveryPolicy;
  /** Where secretEnv/webhookUrlEnv are looked up (the worker's environment). */
  env?: Record<string, string | undefined>;
  /**
   * Hosts notifications may go to. Default: the comma-separated list in
   * AGENT_CANARY_OUTBOUND_ALLOW_HOSTS of `env`, or any host when that is unset.
   */
  allowHosts?: string[];
}

/** The variable naming the hosts outbound calls may reach (not under the plan-readable prefix). */
export const ALLOW_HOSTS_ENV = 'AGENT_CANARY_OUTBOUND_ALLOW_HOSTS';

/** A channel that cannot work on this worker: every delivery fails, visibly, in status. */
function broken(name: string, problem: string): Notifier {
  return {
    name,
    send: async () => {
      throw new Error(problem);
    },
  };
}

/**
 * Reads a variable a plan named, under the one env policy. The value never appears in a message:
 * problems name the variable only.
 */
export function readEnv(
  env: Record<string, string | undefined>,
  variable: string,
): { value: string } | { problem: string } {
  const refused = notifyEnvProblem(variable);
  if (refused) return { problem: `environment variable ${variable} may not be read: ${refused}` };
  const value = env[variable];
  if (!value) return { problem: `environment variable ${variable} is not set on the worker` };
  return { value };
}

/** One notifier per target; several log targets collapse into one (a line per event is enough). */
export function createNotifiers(targets: NotifyTarget[], opts: NotifierOptions = {}): Notifier[] {
  const { uiUrl, dashboardUrl, namespace, delivery } = opts;
  const env = opts.env ?? process.env;
  const allowHosts = opts.allowHosts ?? hostList(env[ALLOW_HOSTS_ENV]);
  const outbound: OutboundPolicy = { allowHosts };
  const out: Notifier[] = [];
  let logAdded = false;
  for (const t of targets) {
    switch (t.type) {
      case 'slack': {
        const name = t.webhookUrl ? `slack ${redact(t.webhookUrl)}` : `slack $${t.webhookUrlEnv}`;
        const read = t.webhookUrl ? { value: t.webhookUrl } : readEnv(env, t.webhookUrlEnv!);
        if ('problem' in read) {
          out.push(broken(name, read.problem));
          break;
        }
        const urlProblem = checkUrl(read.value, outbound);
        if (urlProblem) {
          const where = t.webhookUrl ? 'webhookUrl' : `environment variable ${t.webhookUrlEnv}`;
          out.push(broken(name, `${where} ${urlProblem}`));
          break;
        }
        out.push(
          new SlackNotifier({
            webhookUrl: read.value,
            uiUrl,
            dashboardUrl,
            namespace,
            delivery,
            outbound,
            ...(t.buttons ? { buttons: true } : {}),
          }),
        );
        break;
      }
      case 'webhook': {
        const name = `webhook ${redact(t.url)}`;
        const read = t.secret ? { value: t.secret } : readEnv(env, t.secretEnv!);
        if ('problem' in read) {
          out.push(broken(name, read.problem));
          break;
        }
        const urlProblem = checkUrl(t.url, outbound);
        if (urlProblem) {
          out.push(broken(name, `url ${urlProblem}`));
          break;
        }
        out.push(
          new WebhookNotifier({
            url: t.url,
            secret: read.value,
            uiUrl,
            dashboardUrl,
            namespace,
            delivery,
            outbound,
          }),
        );
        break;
      }
      case 'log':
        if (!logAdded) out.push(new LogNotifier(opts.log, uiUrl, namespace, dashboardUrl));
        logAdded = true;
        break;
    }
  }
  return out;
}

export function hostList(value: string | undefined): string[] | undefined {
  if (!value || value.trim() === '') return undefined;
  return value
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
}

/** The policy's verdict on a URL, as a message without the URL. */
function checkUrl(url: string, policy: OutboundPolicy): string | undefined {
  try {
    checkOutboundUrl(url, policy);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

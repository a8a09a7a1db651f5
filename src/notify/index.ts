// Builds the notifiers for a plan's notify targets: this is ActivityDeps.notifiers.
import type { NotifyTarget } from '../plan/schema';
import { redact, type DeliveryPolicy } from './deliver';
import { LogNotifier, type LineWriter } from './log';
import { SlackNotifier } from './slack';
import type { Notifier } from './types';
import { WebhookNotifier } from './webhook';

export * from './types';
export { DEFAULT_DELIVERY, type DeliveryPolicy } from './deliver';
export { formatMetricValue, formatMetricLine, formatVerdict, rolloutUrl } from './format';
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
  namespace?: string;
  /** Where log targets write their JSON lines (default stdout). */
  log?: LineWriter;
  delivery?: DeliveryPolicy;
  /** Where secretEnv/webhookUrlEnv are looked up (the worker's environment). */
  env?: Record<string, string | undefined>;
}

/** A channel whose secret is missing on this worker: every delivery fails, visibly, in status. */
function unset(name: string, variable: string): Notifier {
  return {
    name,
    send: async () => {
      throw new Error(`environment variable ${variable} is not set on the worker`);
    },
  };
}

/** One notifier per target; several log targets collapse into one (a line per event is enough). */
export function createNotifiers(targets: NotifyTarget[], opts: NotifierOptions = {}): Notifier[] {
  const { uiUrl, namespace, delivery } = opts;
  const env = opts.env ?? process.env;
  const out: Notifier[] = [];
  let logAdded = false;
  for (const t of targets) {
    switch (t.type) {
      case 'slack': {
        const webhookUrl = t.webhookUrl ?? env[t.webhookUrlEnv!];
        out.push(
          webhookUrl
            ? new SlackNotifier({ webhookUrl, uiUrl, namespace, delivery })
            : unset(`slack $${t.webhookUrlEnv}`, t.webhookUrlEnv!),
        );
        break;
      }
      case 'webhook': {
        const secret = t.secret ?? env[t.secretEnv!];
        out.push(
          secret
            ? new WebhookNotifier({ url: t.url, secret, uiUrl, namespace, delivery })
            : unset(`webhook ${redact(t.url)}`, t.secretEnv!),
        );
        break;
      }
      case 'log':
        if (!logAdded) out.push(new LogNotifier(opts.log, uiUrl, namespace));
        logAdded = true;
        break;
    }
  }
  return out;
}

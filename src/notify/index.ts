// Builds the notifiers for a plan's notify targets: this is ActivityDeps.notifiers.
import type { NotifyTarget } from '../plan/schema';
import type { DeliveryPolicy } from './deliver';
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
}

/** One notifier per target; several log targets collapse into one (a line per event is enough). */
export function createNotifiers(targets: NotifyTarget[], opts: NotifierOptions = {}): Notifier[] {
  const { uiUrl, namespace, delivery } = opts;
  const out: Notifier[] = [];
  let logAdded = false;
  for (const t of targets) {
    switch (t.type) {
      case 'slack':
        out.push(new SlackNotifier({ webhookUrl: t.webhookUrl, uiUrl, namespace, delivery }));
        break;
      case 'webhook':
        out.push(new WebhookNotifier({ url: t.url, secret: t.secret, uiUrl, namespace, delivery }));
        break;
      case 'log':
        if (!logAdded) out.push(new LogNotifier(opts.log, uiUrl, namespace));
        logAdded = true;
        break;
    }
  }
  return out;
}

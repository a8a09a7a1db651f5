// Generic webhook: the event as JSON, signed so a receiver can trust it came from us.
//
// Headers sent with every delivery:
//   x-agent-canary-event:      the event type (e.g. rolled_back)
//   x-agent-canary-delivery:   an id, the same on every retry of one delivery (dedupe on it)
//   x-agent-canary-timestamp:  Unix time in seconds when this attempt was signed
//   x-agent-canary-signature:  "sha256=" + hex HMAC-SHA256(secret, `${timestamp}.${body}`)
// Body: the NotifyEvent fields plus `url`, the rollout's page in the Temporal Web UI when known, and
// `dashboardUrl`, its page on the agent-canary dashboard (where the actions are) when configured.
import { randomUUID } from 'node:crypto';
import { HEADER_SIGNATURE, HEADER_TIMESTAMP, sign } from '../signing';
import type { OutboundPolicy } from '../outbound';
import { DEFAULT_DELIVERY, postWithRetry, redact, type DeliveryPolicy } from './deliver';
import { dashboardRolloutUrl, rolloutUrl } from './format';
import type { Notifier, NotifyEvent } from './types';

export { HEADER_SIGNATURE, HEADER_TIMESTAMP, sign, verifySignature, type VerifyInput } from '../signing';

export const HEADER_EVENT = 'x-agent-canary-event';
export const HEADER_DELIVERY = 'x-agent-canary-delivery';

export interface WebhookOptions {
  url: string;
  secret: string;
  uiUrl?: string;
  dashboardUrl?: string;
  namespace?: string;
  delivery?: DeliveryPolicy;
  /** Where calls may go (src/outbound.ts). */
  outbound?: OutboundPolicy;
}

export class WebhookNotifier implements Notifier {
  readonly name: string;
  constructor(private readonly opts: WebhookOptions) {
    this.name = `webhook ${redact(opts.url)}`;
  }

  async send(event: NotifyEvent): Promise<void> {
    const body = JSON.stringify({
      ...event,
      url: rolloutUrl(this.opts.uiUrl, this.opts.namespace, event.workflowId),
      dashboardUrl: dashboardRolloutUrl(this.opts.dashboardUrl, event.workflowId),
    });
    const delivery = randomUUID();
    await postWithRetry(
      this.opts.url,
      body,
      () => {
        const ts = String(Math.floor(Date.now() / 1000));
        return {
          [HEADER_EVENT]: event.type,
          [HEADER_DELIVERY]: delivery,
          [HEADER_TIMESTAMP]: ts,
          [HEADER_SIGNATURE]: sign(this.opts.secret, ts, body),
        };
      },
      this.opts.delivery ?? DEFAULT_DELIVERY,
      this.opts.outbound,
    );
  }
}

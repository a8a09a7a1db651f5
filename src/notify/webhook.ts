// Generic webhook: the event as JSON, signed so a receiver can trust it came from us.
//
// Headers sent with every delivery:
//   x-agent-canary-event:      the event type (e.g. rolled_back)
//   x-agent-canary-delivery:   an id, the same on every retry of one delivery (dedupe on it)
//   x-agent-canary-timestamp:  Unix time in seconds when this attempt was signed
//   x-agent-canary-signature:  "sha256=" + hex HMAC-SHA256(secret, `${timestamp}.${body}`)
// Body: the NotifyEvent fields plus `url`, the rollout's page in the Temporal Web UI when known.
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { DEFAULT_DELIVERY, postWithRetry, redact, type DeliveryPolicy } from './deliver';
import { rolloutUrl } from './format';
import type { Notifier, NotifyEvent } from './types';

export const HEADER_EVENT = 'x-agent-canary-event';
export const HEADER_DELIVERY = 'x-agent-canary-delivery';
export const HEADER_TIMESTAMP = 'x-agent-canary-timestamp';
export const HEADER_SIGNATURE = 'x-agent-canary-signature';

export function sign(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export interface VerifyInput {
  secret: string;
  /** The raw request body, exactly as received (not re-serialized JSON). */
  body: string | Buffer;
  timestamp: string | undefined;
  signature: string | undefined;
  /** Older (or further in the future) signatures are refused, against replays. Default 5 min. */
  toleranceMs?: number;
  now?: number;
}

/** For receivers: true when the signature matches and the timestamp is fresh. Constant time. */
export function verifySignature(input: VerifyInput): boolean {
  const { secret, timestamp, signature } = input;
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  const age = Math.abs((input.now ?? Date.now()) - Number(timestamp) * 1000);
  if (age > (input.toleranceMs ?? 5 * 60_000)) return false;
  const body = typeof input.body === 'string' ? input.body : input.body.toString('utf8');
  const expected = Buffer.from(sign(secret, timestamp, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface WebhookOptions {
  url: string;
  secret: string;
  uiUrl?: string;
  namespace?: string;
  delivery?: DeliveryPolicy;
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
    );
  }
}

// Router backend for teams with their own router: the desired split is POSTed to their URL, signed
// so they can tell it came from agent-canary and is fresh.
//
// Request:  POST <url>  body {"agent", "desired": DesiredSplit, "sentAt": epoch ms}
//           x-agent-canary-timestamp: <epoch ms>
//           x-agent-canary-signature: sha256=<hex HMAC-SHA256(secret, `${timestamp}.${body}`)>
// Answer:   2xx with the AppliedSplit as JSON, or an empty 2xx (then the split is taken as applied
//           as sent). 4xx = refused for good (RouterConfigError); 5xx/network = retried.
// getSplit: GET <url>?agent=<agent>, signed the same way over an empty body; must answer an
//           AppliedSplit.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { failureFrom, fetchWithTimeout } from './http';
import { AppliedSplitSchema, type AppliedSplit, type DesiredSplit, type Router } from './types';

export interface WebhookRouterOptions {
  url: string;
  secret: string;
  timeoutMs?: number;
  now?: () => number;
}

export const SIGNATURE_HEADER = 'x-agent-canary-signature';
export const TIMESTAMP_HEADER = 'x-agent-canary-timestamp';

export function signWebhook(secret: string, timestamp: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/**
 * For receivers: true when the signature matches and the timestamp is within `toleranceMs` of now
 * (old signed requests cannot be replayed later).
 */
export function verifyWebhookSignature(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  body: string,
  toleranceMs = 5 * 60_000,
  now = Date.now(),
): boolean {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(now - Number(timestamp)) > toleranceMs) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const got = Buffer.from(signature);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

export class WebhookRouter implements Router {
  private readonly now: () => number;

  constructor(private readonly options: WebhookRouterOptions) {
    this.now = options.now ?? Date.now;
  }

  async setSplit(agent: string, desired: DesiredSplit): Promise<AppliedSplit> {
    const sentAt = this.now();
    const body = JSON.stringify({ agent, desired, sentAt });
    const what = `webhook router POST ${this.options.url} for ${agent}`;
    const res = await fetchWithTimeout(
      this.options.url,
      { method: 'POST', headers: { 'content-type': 'application/json', ...this.sign(sentAt, body) }, body },
      this.options.timeoutMs ?? 10_000,
      what,
    );
    if (!res.ok) throw await failureFrom(res, what);
    const text = await res.text();
    if (text.trim() === '') {
      return {
        agent,
        stable: desired.stable,
        canary: desired.canary,
        canaryWeight: desired.canary === null ? 0 : desired.canaryWeight,
        leaseExpiresAt: desired.canary !== null && desired.leaseMs !== null ? sentAt + desired.leaseMs : null,
        updatedAt: sentAt,
      };
    }
    return parseApplied(text, what);
  }

  async getSplit(agent: string): Promise<AppliedSplit> {
    const url = new URL(this.options.url);
    url.searchParams.set('agent', agent);
    const what = `webhook router GET ${url.href}`;
    const res = await fetchWithTimeout(
      url.href,
      { method: 'GET', headers: this.sign(this.now(), '') },
      this.options.timeoutMs ?? 10_000,
      what,
    );
    if (!res.ok) throw await failureFrom(res, what);
    return parseApplied(await res.text(), what);
  }

  private sign(at: number, body: string): Record<string, string> {
    const ts = String(at);
    return { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: signWebhook(this.options.secret, ts, body) };
  }
}

function parseApplied(text: string, what: string): AppliedSplit {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${what}: answer is not JSON: ${text.slice(0, 200)}`);
  }
  const parsed = AppliedSplitSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${what}: answer is not an AppliedSplit: ${parsed.error.message}`);
  return parsed.data;
}

// Router backend for teams with their own router: the desired split is POSTed to their URL, signed
// so they can tell it came from agent-canary and is fresh.
//
// Request:  POST <url>  body {"agent", "desired": DesiredSplit, "sentAt": epoch ms}
//           signed as every agent-canary webhook is (src/signing.ts): x-agent-canary-timestamp
//           (Unix seconds) and x-agent-canary-signature
// Answer:   2xx with the AppliedSplit as JSON, or an empty 2xx (then the split is taken as applied
//           as sent). 4xx = refused for good (RouterConfigError); 5xx/network = retried.
// getSplit: GET <url>?agent=<agent>, signed the same way over an empty body; must answer an
//           AppliedSplit.
import { describeUrl } from '../outbound';
import { requestSignatureHeaders } from '../signing';
import { failureFrom, fetchWithTimeout } from './http';
import { AppliedSplitSchema, type AppliedSplit, type DesiredSplit, type Router } from './types';
import { describeZodError } from '../text/zod-problems';

export interface WebhookRouterOptions {
  url: string;
  secret: string;
  timeoutMs?: number;
  now?: () => number;
}

export { NonceCache, verifyRequestSignature, verifySignature } from '../signing';

export class WebhookRouter implements Router {
  private readonly now: () => number;

  constructor(private readonly options: WebhookRouterOptions) {
    this.now = options.now ?? Date.now;
  }

  async setSplit(agent: string, desired: DesiredSplit): Promise<AppliedSplit> {
    const sentAt = this.now();
    const body = JSON.stringify({ agent, desired, sentAt });
    const what = `webhook router POST ${describeUrl(this.options.url)} for ${agent}`;
    const res = await fetchWithTimeout(
      this.options.url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.sign(sentAt, 'POST', this.options.url, body) },
        body,
      },
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
    const what = `webhook router GET ${describeUrl(url)} for ${agent}`;
    const res = await fetchWithTimeout(
      url.href,
      { method: 'GET', headers: this.sign(this.now(), 'GET', url.href, '') },
      this.options.timeoutMs ?? 10_000,
      what,
    );
    if (!res.ok) throw await failureFrom(res, what);
    return parseApplied(await res.text(), what);
  }

  /** v1 headers (timestamp + body) and the request signature over method, target and a nonce. */
  private sign(at: number, method: string, url: string, body: string): Record<string, string> {
    const u = new URL(url);
    return requestSignatureHeaders(
      this.options.secret,
      { method, target: `${u.pathname}${u.search}`, body },
      at,
    );
  }
}

function parseApplied(text: string, what: string): AppliedSplit {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${what}: answer is not JSON (${text.length} bytes)`);
  }
  const parsed = AppliedSplitSchema.safeParse(json);
  if (!parsed.success)
    throw new Error(`${what}: answer is not an AppliedSplit: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

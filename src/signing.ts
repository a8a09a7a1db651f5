// One signature scheme for everything agent-canary POSTs to users' URLs (notification webhooks, the
// webhook router), so a receiver verifies both the same way:
//   x-agent-canary-timestamp:  Unix time in seconds when the request was signed
//   x-agent-canary-signature:  "sha256=" + hex HMAC-SHA256(secret, `${timestamp}.${body}`)
import { createHmac, timingSafeEqual } from 'node:crypto';

export const HEADER_TIMESTAMP = 'x-agent-canary-timestamp';
export const HEADER_SIGNATURE = 'x-agent-canary-signature';

export function sign(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The two headers for a body signed now (epoch ms in, seconds on the wire). */
export function signatureHeaders(secret: string, body: string, nowMs = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return { [HEADER_TIMESTAMP]: timestamp, [HEADER_SIGNATURE]: sign(secret, timestamp, body) };
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

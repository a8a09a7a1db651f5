// One signature scheme for everything agent-canary POSTs to users' URLs (notification webhooks, the
// webhook router), so a receiver verifies both the same way:
//   x-agent-canary-timestamp:  Unix time in seconds when the request was signed
//   x-agent-canary-signature:  "sha256=" + hex HMAC-SHA256(secret, `${timestamp}.${body}`)
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

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

// Request signatures (the webhook router): the v1 signature above covers only timestamp and body,
// so a captured GET for one agent verifies for another within the tolerance, and any capture can be
// replayed for 5 minutes. The request signature also covers the method, the request target (path
// and query as sent) and a random nonce; a receiver that remembers nonces (NonceCache) refuses
// every replay.
//   x-agent-canary-nonce:              32 hex characters, new for every request
//   x-agent-canary-request-signature:  "sha256=" + hex HMAC-SHA256(secret,
//                                        `${timestamp}.${nonce}.${METHOD}.${target}.${body}`)

export const HEADER_NONCE = 'x-agent-canary-nonce';
export const HEADER_REQUEST_SIGNATURE = 'x-agent-canary-request-signature';

export interface SignedRequest {
  method: string;
  /** Path and query exactly as on the request line, e.g. "/split?agent=bot". */
  target: string;
  body: string;
}

export function signRequest(secret: string, timestamp: string, nonce: string, r: SignedRequest): string {
  const base = `${timestamp}.${nonce}.${r.method.toUpperCase()}.${r.target}.${r.body}`;
  return `sha256=${createHmac('sha256', secret).update(base).digest('hex')}`;
}

/** Every signature header for a request signed now: v1 (timestamp + body) and the request one. */
export function requestSignatureHeaders(
  secret: string,
  r: SignedRequest,
  nowMs = Date.now(),
  nonce = randomBytes(16).toString('hex'),
): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return {
    ...signatureHeaders(secret, r.body, nowMs),
    [HEADER_NONCE]: nonce,
    [HEADER_REQUEST_SIGNATURE]: signRequest(secret, timestamp, nonce, r),
  };
}

/** Nonces seen within the tolerance window, for refusing replays; bounded in time and count. */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly ttlMs = 5 * 60_000,
    private readonly max = 100_000,
  ) {}

  /** Records the nonce; false when it was already seen (a replay). */
  add(nonce: string, now = Date.now()): boolean {
    for (const [n, at] of this.seen) {
      if (at >= now - this.ttlMs && this.seen.size < this.max) break;
      this.seen.delete(n);
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, now);
    return true;
  }
}

export interface VerifyRequestInput extends SignedRequest {
  secret: string;
  body: string;
  timestamp: string | undefined;
  nonce: string | undefined;
  signature: string | undefined;
  toleranceMs?: number;
  now?: number;
  /** Give one to refuse replays within the tolerance window too. */
  nonces?: NonceCache;
}

/** For receivers of signed requests: signature, freshness and (with a NonceCache) first use. */
export function verifyRequestSignature(input: VerifyRequestInput): boolean {
  const { secret, timestamp, nonce, signature } = input;
  if (!timestamp || !nonce || !signature || !/^\d+$/.test(timestamp) || !/^[0-9a-f]{32}$/.test(nonce)) {
    return false;
  }
  const now = input.now ?? Date.now();
  if (Math.abs(now - Number(timestamp) * 1000) > (input.toleranceMs ?? 5 * 60_000)) return false;
  const expected = Buffer.from(signRequest(secret, timestamp, nonce, input));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
  return input.nonces ? input.nonces.add(nonce, now) : true;
}

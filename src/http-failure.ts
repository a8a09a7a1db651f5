// One rule for every outbound HTTP call (routers, metrics sources, notifications, Kubernetes): what a
// failed call means, from the answer's status or the network error's code. Three kinds, because the
// callers act differently on each:
//   configuration  retrying cannot help (a wrong URL, token, agent or query; a redirect; a TLS
//                  certificate nobody trusts): fail at once and say what to fix;
//   retryable      this request failed but the next may pass (rate limited, a dropped connection);
//   outage         the other side is down or unreachable: retry within a budget, then report an
//                  outage (a metrics outage is never a failed check, never "healthy").
import { OutboundUrlError, RedirectRefusedError } from './outbound';

export type FailureKind = 'configuration' | 'retryable' | 'outage';

/** Statuses whose kind is not their class's (other 3xx/4xx: configuration; 5xx: outage). */
const STATUS_KINDS: Readonly<Record<number, FailureKind>> = {
  408: 'retryable', // the server gave up waiting for our request: a new one may pass
  425: 'retryable', // too early (TLS early data): the same request after the handshake passes
  429: 'retryable', // rate limited
};

/** Node and undici error codes; codes not listed (and errors without one) count as an outage. */
const CODE_KINDS: Readonly<Record<string, FailureKind>> = {
  ECONNRESET: 'retryable',
  EPIPE: 'retryable',
  EAI_AGAIN: 'retryable', // a DNS lookup that failed this time
  UND_ERR_SOCKET: 'retryable',
  UND_ERR_CLOSED: 'retryable',
  ECONNREFUSED: 'outage',
  EHOSTUNREACH: 'outage',
  ENETUNREACH: 'outage',
  ENOTFOUND: 'outage', // also a typo in the host, which preflight reports before the rollout starts
  ETIMEDOUT: 'outage',
  UND_ERR_CONNECT_TIMEOUT: 'outage',
  UND_ERR_HEADERS_TIMEOUT: 'outage',
  UND_ERR_BODY_TIMEOUT: 'outage',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'configuration',
  SELF_SIGNED_CERT_IN_CHAIN: 'configuration',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'configuration',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'configuration',
};

/** Certificate and TLS setup errors: the trust store or the URL needs fixing. */
const CONFIGURATION_CODE = /^(CERT_|ERR_TLS_CERT|ERR_SSL_)/;

/** The kind of a failed answer, or undefined when the status is a success (1xx, 2xx). */
export function statusKind(status: number): FailureKind | undefined {
  if (status < 300) return undefined;
  const listed = STATUS_KINDS[status];
  if (listed) return listed;
  // 3xx: redirects are refused (src/outbound.ts), so the URL must change.
  return status < 500 ? 'configuration' : 'outage';
}

/** The kind of an error thrown by a call (outboundFetch, node:http, undici). */
export function errorKind(err: unknown): FailureKind {
  if (err instanceof OutboundUrlError || err instanceof RedirectRefusedError) return 'configuration';
  const e = err as { name?: unknown; code?: unknown; cause?: { code?: unknown } } | null;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'outage';
  const code = typeof e?.cause?.code === 'string' ? e.cause.code : typeof e?.code === 'string' ? e.code : '';
  return CODE_KINDS[code] ?? (CONFIGURATION_CODE.test(code) ? 'configuration' : 'outage');
}

/** Whether asking again can help: everything but configuration. */
export function isRetryable(kind: FailureKind | undefined): boolean {
  return kind !== 'configuration';
}

// One policy for every HTTP call agent-canary makes to a URL someone else chose (notify targets,
// webhook router, gateway and Prometheus backends): http(s) only, no redirects (a 3xx is an answer,
// not an instruction to fetch somewhere else), optionally only to listed hosts, and nothing of the
// URL's secret parts (user:pass@, a Slack path, the query) or of a raw answer in any message we keep.
import { printable } from './text/sanitize';

/** A URL the policy refuses: the message never contains the URL itself. */
export class OutboundUrlError extends Error {
  override name = 'OutboundUrlError';
}

export interface OutboundPolicy {
  /**
   * Host names (or host:port) calls may go to; undefined = any. Entries starting with "." match
   * subdomains (".example.com" allows "hooks.example.com").
   */
  allowHosts?: string[];
}

/** Parses and checks a URL against the policy. Throws OutboundUrlError naming what is wrong. */
export function checkOutboundUrl(raw: string, policy: OutboundPolicy = {}): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundUrlError('is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OutboundUrlError(`must be http:// or https://, not ${url.protocol.slice(0, 20)}`);
  }
  if (url.username || url.password) {
    throw new OutboundUrlError('must not carry user:password@');
  }
  if (policy.allowHosts && !hostAllowed(url, policy.allowHosts)) {
    throw new OutboundUrlError(`host ${url.hostname} is not in the worker's allowed hosts`);
  }
  return url;
}

function hostAllowed(url: URL, allow: string[]): boolean {
  const host = url.hostname.toLowerCase();
  return allow.some((entry) => {
    const e = entry.trim().toLowerCase();
    if (e === '') return false;
    if (e.startsWith('.')) return host.endsWith(e) || host === e.slice(1);
    return e.includes(':') && !e.startsWith('[') ? e === url.host.toLowerCase() : e === host;
  });
}

/**
 * What may be shown of a URL: scheme, host and port, and "/…" when there is more. Credentials, path
 * and query are left out (a Slack webhook's path is its secret).
 */
export function describeUrl(raw: string | URL): string {
  let u: URL;
  try {
    u = typeof raw === 'string' ? new URL(raw) : raw;
  } catch {
    return '(invalid url)';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `(${u.protocol.slice(0, 20)} url)`;
  const more = u.pathname.length > 1 || u.search !== '';
  return `${u.protocol}//${u.host}${more ? '/…' : ''}`;
}

/** Node's network error codes worth showing; anything else is summarised, never echoed. */
const KNOWN_CODES =
  /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|UND_ERR_[A-Z_]+|CERT_[A-Z_]+|ERR_TLS_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/;

/**
 * A fetch failure as text safe to store: "timed out", "connection refused (ECONNREFUSED)", or
 * "network error". Error messages from fetch may quote the URL (and so a secret): never used.
 */
export function describeFetchError(err: unknown, timeoutMs?: number): string {
  const e = err as { name?: string; cause?: { code?: unknown } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return timeoutMs ? `no answer within ${timeoutMs} ms` : 'timed out';
  }
  if (e instanceof OutboundUrlError || e instanceof RedirectRefusedError) return e.message;
  const code = typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  if (code && KNOWN_CODES.test(code)) {
    const words: Record<string, string> = {
      ECONNREFUSED: 'connection refused',
      ECONNRESET: 'connection reset',
      ENOTFOUND: 'host not found',
      EAI_AGAIN: 'DNS lookup failed',
    };
    return `${words[code] ?? 'network error'} (${code})`;
  }
  return 'network error';
}

/** A redirect the policy refused: treated as a failed call, never followed. */
export class RedirectRefusedError extends Error {
  override name = 'RedirectRefusedError';
  constructor(readonly status: number) {
    super(`answered HTTP ${status} (a redirect; redirects are not followed)`);
  }
}

export interface OutboundInit extends Omit<RequestInit, 'redirect' | 'signal'> {
  timeoutMs: number;
  policy?: OutboundPolicy;
}

/**
 * fetch under the policy: the URL checked first, redirects refused (RedirectRefusedError), a
 * deadline on the whole call. Network errors are rethrown as they are: describe them with
 * describeFetchError.
 */
export async function outboundFetch(raw: string, init: OutboundInit): Promise<Response> {
  const url = checkOutboundUrl(raw, init.policy);
  const { timeoutMs, policy: _policy, ...rest } = init;
  const res = await fetch(url, { ...rest, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => undefined);
    throw new RedirectRefusedError(res.status);
  }
  return res;
}

/**
 * An error answer's body reduced to what may be stored: the `error` field of a JSON answer, as one
 * line of at most `max` printable characters; other bodies are not kept at all.
 */
export function safeErrorReason(text: string, max = 200): string {
  let reason: unknown;
  try {
    reason = (JSON.parse(text) as { error?: unknown }).error;
  } catch {
    return '';
  }
  if (typeof reason !== 'string') return '';
  return printable(reason, max);
}

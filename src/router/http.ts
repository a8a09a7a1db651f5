// Shared by HTTP routers: an HTTP answer or error as "retry" or "give up", by the one failure table
// (src/http-failure.ts). Calls go through the outbound policy (src/outbound.ts): http(s) only,
// redirects refused, and of an error answer only the JSON `error` field is kept (one printable
// line), never the raw body.
import { errorKind, isRetryable, statusKind } from '../http-failure';
import { OutboundUrlError, describeFetchError, outboundFetch, safeErrorReason } from '../outbound';
import { RouterConfigError } from './types';

/** A configuration failure (unknown agent, bad token, refused split) is one retrying cannot help. */
export async function failureFrom(res: Response, what: string): Promise<Error> {
  let reason = '';
  try {
    reason = safeErrorReason(await res.text(), 500);
  } catch {
    // body unreadable: the status says enough
  }
  const message = `${what}: HTTP ${res.status}${reason ? ` ${reason}` : ''}`;
  return isRetryable(statusKind(res.status)) ? new Error(message) : new RouterConfigError(message);
}

/**
 * fetch with a deadline under the outbound policy. Network errors and timeouts surface as plain
 * (retryable) errors; a URL the policy refuses, a redirect or an untrusted certificate is a
 * RouterConfigError (fix the URL or the trust store).
 */
export async function fetchWithTimeout(
  url: string,
  init: RequestInit,
  timeoutMs: number,
  what: string,
): Promise<Response> {
  try {
    return await outboundFetch(url, { ...init, timeoutMs });
  } catch (err) {
    if (err instanceof OutboundUrlError) throw new RouterConfigError(`${what}: the URL ${err.message}`);
    const message = `${what}: ${describeFetchError(err, timeoutMs)}`;
    throw isRetryable(errorKind(err)) ? new Error(message) : new RouterConfigError(message);
  }
}

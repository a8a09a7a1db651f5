// Shared by HTTP routers: one place that turns an HTTP answer into "retry" or "give up". Calls go
// through the outbound policy (src/outbound.ts): http(s) only, redirects refused, and of an error
// answer only the JSON `error` field is kept (one printable line), never the raw body.
import {
  OutboundUrlError,
  RedirectRefusedError,
  describeFetchError,
  outboundFetch,
  safeErrorReason,
} from '../outbound';
import { RouterConfigError } from './types';

/** 4xx: the request is wrong (unknown agent, bad token, refused split) and retrying cannot help. */
export async function failureFrom(res: Response, what: string): Promise<Error> {
  let reason = '';
  try {
    reason = safeErrorReason(await res.text(), 500);
  } catch {
    // body unreadable: the status says enough
  }
  const message = `${what}: HTTP ${res.status}${reason ? ` ${reason}` : ''}`;
  return res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429
    ? new RouterConfigError(message)
    : new Error(message);
}

/**
 * fetch with a deadline under the outbound policy. Network errors and timeouts surface as plain
 * (retryable) errors; a URL the policy refuses or a redirect is a RouterConfigError (fix the URL).
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
    if (err instanceof RedirectRefusedError) throw new RouterConfigError(`${what}: ${err.message}`);
    throw new Error(`${what}: ${describeFetchError(err, timeoutMs)}`);
  }
}

// Shared by HTTP routers: one place that turns an HTTP answer into "retry" or "give up".
import { RouterConfigError } from './types';

/** 4xx: the request is wrong (unknown agent, bad token, refused split) and retrying cannot help. */
export async function failureFrom(res: Response, what: string): Promise<Error> {
  let reason = '';
  try {
    const text = await res.text();
    try {
      const body = JSON.parse(text) as { error?: unknown };
      reason = typeof body.error === 'string' ? body.error : text;
    } catch {
      reason = text;
    }
  } catch {
    // body unreadable: the status says enough
  }
  const message = `${what}: HTTP ${res.status}${reason ? ` ${reason.slice(0, 500)}` : ''}`;
  return res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429
    ? new RouterConfigError(message)
    : new Error(message);
}

/** fetch with a deadline; network errors and timeouts surface as plain (retryable) errors. */
export async function fetchWithTimeout(
  url: string,
  init: RequestInit,
  timeoutMs: number,
  what: string,
): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const cause = e.cause ? [e.cause.code, e.cause.message].filter(Boolean).join(' ') : e.message;
    const detail = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : cause;
    throw new Error(`${what}: ${detail}`);
  }
}

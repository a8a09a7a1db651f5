// A minimal client of Temporal's HTTP API (the frontend's JSON gateway: /api/v1/namespaces/...),
// with node:http alone: what `status` needs, answered in a few milliseconds, where loading the SDK's
// gRPC client costs ~0.3 s. Payloads come without the "shorthand" (the raw encoding and data), so a
// value is decoded the way the SDK's default data converter decodes it, never guessed.
import type { IncomingMessage } from 'node:http';
import type { RequestOptions } from 'node:https';
import { z } from 'zod';

/** Nothing usable came back: the caller falls back to the SDK. Never shown to the user as such. */
export class HttpApiUnusableError extends Error {
  override name = 'HttpApiUnusableError';
}

/** No answer within the time allowed (the server or, for a query, the worker is silent). */
export class HttpApiTimeoutError extends Error {
  override name = 'HttpApiTimeoutError';
}

export interface HttpApiOptions {
  /** Base URL, e.g. http://127.0.0.1:7243. */
  url: URL;
  /** Sent as `Authorization: Bearer` (https only; connection.ts never pairs a key with plain http). */
  apiKey?: string;
  /** TLS material for https: CA, client certificate, server name. */
  tls?: { ca?: Uint8Array; cert?: Uint8Array; key?: Uint8Array; servername?: string };
}

export interface HttpAnswer {
  status: number;
  body: unknown;
}

/**
 * How long a call that only reads the server (describe, list, history) may take before the command
 * asks the SDK instead: Temporal answers these in milliseconds, while the port guessed by default
 * (gRPC + 10) may belong to something else that accepts the connection and never answers.
 */
export const READ_TIMEOUT_MS = 3_000;

/** A status, a query or a history page is small; anything bigger than this is not what we asked for. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

const NO_SHORTHAND = 'application/json+no-payload-shorthand';

export function httpApiRequest(
  api: HttpApiOptions,
  method: 'GET' | 'POST',
  path: string,
  opts: { body?: unknown; timeoutMs: number },
): Promise<HttpAnswer> {
  const https = api.url.protocol === 'https:';
  // Loaded on use, only the one this URL needs: node:https brings TLS (~15 ms).
  /* eslint-disable @typescript-eslint/no-require-imports */
  const transport = https
    ? (require('node:https') as typeof import('node:https'))
    : (require('node:http') as typeof import('node:http'));
  /* eslint-enable @typescript-eslint/no-require-imports */
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = { accept: NO_SHORTHAND };
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  if (https && api.apiKey) headers.authorization = `Bearer ${api.apiKey}`;
  const base = api.url.pathname.replace(/\/+$/, '');
  const options: RequestOptions = {
    method,
    host: api.url.hostname.replace(/^\[|\]$/g, ''),
    port: api.url.port || (https ? 443 : 80),
    path: `${base}${path}`,
    headers,
    // One process, one or two requests: no pooled socket to keep the process waiting.
    agent: false,
    ...(https && api.tls ? tlsOptions(api.tls) : {}),
  };
  return new Promise<HttpAnswer>((resolve, reject) => {
    let settled = false;
    const done = (err: Error | null, answer?: HttpAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(answer!);
    };
    const timer = setTimeout(
      () => done(new HttpApiTimeoutError(`no answer within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    const req = transport.request(options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) done(new HttpApiUnusableError('answer too large'));
        else chunks.push(chunk);
      });
      res.on('error', (err) => done(new HttpApiUnusableError(err.message)));
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return done(new HttpApiUnusableError(`HTTP ${res.statusCode}: not JSON`));
        }
        done(null, { status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => done(new HttpApiUnusableError(err.code ?? err.message)));
    req.end(payload);
  });
}

function tlsOptions(t: NonNullable<HttpApiOptions['tls']>): RequestOptions {
  const buf = (b: Uint8Array | undefined) => (b ? Buffer.from(b) : undefined);
  return { ca: buf(t.ca), cert: buf(t.cert), key: buf(t.key), servername: t.servername };
}

/** A gRPC status as the gateway returns it with a non-2xx answer. */
export const HttpErrorSchema = z
  .object({
    code: z.number().int(),
    message: z.string().max(20_000),
    details: z
      .array(z.object({ '@type': z.string().max(500) }).loose())
      .max(20)
      .optional(),
  })
  .loose();

/** The error's detail type, e.g. "NotFoundFailure" (temporal.api.errordetails.v1.*). */
export function errorDetailType(body: unknown): string | undefined {
  const e = HttpErrorSchema.safeParse(body);
  const type = e.success ? e.data.details?.[0]?.['@type'] : undefined;
  return type?.slice(type.lastIndexOf('.') + 1);
}

const base64 = z
  .string()
  .max(MAX_BODY_BYTES * 2)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');

export const PayloadSchema = z
  .object({ metadata: z.record(z.string().max(200), base64).optional(), data: base64.optional() })
  .loose();
export type Payload = z.infer<typeof PayloadSchema>;

/**
 * A payload's value as the SDK's default data converter reads it: json/plain is JSON, binary/null is
 * undefined. Any other encoding (binary data, an encryption codec) is not ours to read here.
 */
export function decodePayload(p: Payload): unknown {
  const encoding = Buffer.from(p.metadata?.encoding ?? '', 'base64').toString('utf8');
  if (encoding === 'binary/null') return undefined;
  if (encoding !== 'json/plain') throw new HttpApiUnusableError(`payload encoding "${encoding}"`);
  try {
    return JSON.parse(Buffer.from(p.data ?? '', 'base64').toString('utf8'));
  } catch {
    throw new HttpApiUnusableError('payload is not JSON');
  }
}

/** "/api/v1/namespaces/<ns>" with every part escaped. */
export function namespacePath(namespace: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}`;
}

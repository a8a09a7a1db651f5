import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, error: string, extra?: object): void {
  sendJson(res, status, { error, ...extra });
}

export class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_JSON = 1 << 20;

/** Reads a JSON request body (at most 1 MiB). Throws BadRequest with a reason a client can act on. */
export function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_JSON) {
        reject(new BadRequest(413, `body larger than ${MAX_JSON} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return reject(new BadRequest(400, 'body must be JSON, got an empty body'));
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new BadRequest(400, `body is not valid JSON: ${(err as Error).message}`));
      }
    });
  });
}

/** Bearer-token check in constant time (both sides hashed first, so lengths cannot leak either). */
export function tokenChecker(token: string): (header: string | undefined) => 'ok' | 'missing' | 'wrong' {
  const expected = createHash('sha256').update(token).digest();
  return (header) => {
    if (!header) return 'missing';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m) return 'missing';
    const got = createHash('sha256').update(m[1].trim()).digest();
    return timingSafeEqual(got, expected) ? 'ok' : 'wrong';
  };
}

/** Query string parameters without building a URL object. */
export function queryParams(query: string): URLSearchParams {
  return new URLSearchParams(query);
}

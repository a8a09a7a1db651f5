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

export function sendError(
  res: ServerResponse,
  status: number,
  error: string,
  extra?: object,
  headers?: Record<string, string>,
): void {
  sendJson(res, status, { error, ...extra }, headers);
}

export class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The client went away before its request was read: nothing to answer. */
export class ClientGone extends Error {}

export const MAX_JSON = 1 << 20;
/** An oversize body up to this is read to its end before the 413; a larger one is cut off. */
const DRAIN_MAX = 16 * MAX_JSON;

/**
 * Reads a JSON request body (at most 1 MiB). Throws BadRequest with a reason a client can act on:
 * 413 for a larger body (before reading it when content-length says so), answered before the
 * connection closes, instead of a reset.
 */
export function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new BadRequest(413, `body larger than ${MAX_JSON} bytes`);
    const declared = Number(req.headers['content-length']);
    if (declared > DRAIN_MAX) {
      stopReading(req);
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    // Over the limit but not by much: the rest is read and dropped, and the 413 goes out when the
    // body has ended. A client that sends its whole body before it reads the answer (Python's
    // http.client and requests, chunked or not) gets the 413 instead of a broken pipe.
    let over = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > DRAIN_MAX) {
        done = true;
        chunks.length = 0;
        stopReading(req);
        reject(tooLarge());
        return;
      }
      if (size > MAX_JSON) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => reject(new ClientGone()));
    req.on('aborted', () => reject(new ClientGone()));
    req.on('close', () => {
      if (!req.complete) reject(new ClientGone());
    });
    req.on('end', () => {
      if (done) return;
      if (over) return reject(tooLarge());
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

/**
 * Stops taking in a body we refused: what still arrives is discarded, and the connection is cut a
 * moment after the answer went out (a client that keeps sending cannot hold it open).
 */
function stopReading(req: IncomingMessage): void {
  req.removeAllListeners('data');
  req.resume();
  const socket = req.socket;
  const timer = setTimeout(() => socket.destroy(), 1000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
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

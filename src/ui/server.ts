// The dashboard's HTTP server: static pages (no build step: plain HTML, JS and CSS from ./static)
// and a small JSON API over the Temporal client. Reading is open, like the Temporal Web UI; every
// command needs the bearer token. It binds to loopback by default, and there it also refuses
// requests whose Host header names another site (a DNS-rebinding page cannot read it).
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { z } from 'zod';
import { PlanError } from '../plan';
import { admitCommand, sendCommand, type Command } from '../temporal/rollouts';
import { CommandRefusedError, RolloutError, UnknownAgentError } from '../temporal/errors';
import { sendJson, tokenChecker } from '../gateway/http-util';
import { listRows, rolloutDetail, RolloutNotFoundError } from './data';
import { HttpError } from './http-error';
import { dashboardRoutes, type ApiHandlers } from './routes';
import { slackActionsHandler, type SlackActionsConfig } from './slack-actions';
import {
  CommandBodySchema,
  CommandNameSchema,
  DetailQuerySchema,
  fieldProblems,
  ListQuerySchema,
  WorkflowIdSchema,
} from './schemas';

export interface DashboardOptions {
  client: Client;
  /** Bearer token for commands; give one that is at least 16 characters. */
  token: string;
  host?: string;
  port?: number;
  /** The Temporal Web UI, for links from each rollout page. */
  temporalUiUrl?: string;
  /** Errors that are ours, not the user's (logged with their stack, never sent to the browser). */
  log?: (line: string) => void;
  /** Where the person finds this dashboard's token, for the refusal of a missing or stale one. */
  tokenHint?: string;
  /** Slack interactive buttons at POST /slack/actions (src/ui/slack-actions.ts); off without. */
  slack?: SlackActionsConfig;
}

export interface RunningDashboard {
  url: string;
  /** The URL that carries the token in its fragment (never sent to the server, kept by the page). */
  urlWithToken: string;
  /** The page of one rollout. */
  rolloutUrl(workflowId: string): string;
  close(): Promise<void>;
}

const STATIC_DIR = path.join(__dirname, 'static');
const STATIC_FILES: Record<string, string> = {
  '/static/app.js': 'text/javascript; charset=utf-8',
  '/static/chart.js': 'text/javascript; charset=utf-8',
  '/static/style.css': 'text/css; charset=utf-8',
};
const MAX_BODY = 16 * 1024;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const problems = fieldProblems(r.error).map((p) => ({
      ...p,
      field: p.field === '(input)' ? what : `${what}.${p.field}`,
    }));
    throw new HttpError(
      400,
      `invalid ${what}: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
      { problems },
    );
  }
  return r.data;
}

/** Slack's payloads carry the whole message: larger than a command body. */
const MAX_SLACK_BODY = 256 * 1024;

function readRaw(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        reject(new HttpError(413, `body larger than ${max} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, `body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (!text) return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new HttpError(400, 'body is not valid JSON'));
      }
    });
  });
}

function hostOf(header: string | undefined): string {
  if (!header) return '';
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(header) ?? /^([^:]+)(?::\d+)?$/.exec(header);
  return (m?.[1] ?? '').toLowerCase();
}

/** A method the API does not take at a path it has (the path's own method is named by the docs). */
function notInApi(req: IncomingMessage, url: URL): HttpError {
  return new HttpError(405, `${req.method} ${url.pathname} is not part of the dashboard API`);
}

export async function startDashboard(o: DashboardOptions): Promise<RunningDashboard> {
  if (o.token.length < 16) throw new Error('the dashboard token must be at least 16 characters');
  const host = o.host ?? '127.0.0.1';
  const checkToken = tokenChecker(o.token);
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const index = await readFile(path.join(STATIC_DIR, 'index.html'));
  const files = new Map<string, Buffer>();
  for (const name of Object.keys(STATIC_FILES))
    files.set(name, await readFile(path.join(STATIC_DIR, path.basename(name))));

  const api: ApiHandlers = {
    list: async ({ req, res, url }) => {
      if (req.method !== 'GET') throw notInApi(req, url);
      const q = parse(ListQuerySchema, Object.fromEntries(url.searchParams), 'query');
      return sendJson(res, 200, { rollouts: await listRows(o.client, q.limit) }, SECURITY_HEADERS);
    },
    detail: async ({ req, res, url, params }) => {
      if (req.method !== 'GET') throw notInApi(req, url);
      const workflowId = parse(WorkflowIdSchema, decodeURIComponent(params.id ?? ''), 'workflowId');
      const q = parse(DetailQuerySchema, Object.fromEntries(url.searchParams), 'query');
      const detail = await rolloutDetail(o.client, workflowId, {
        runId: q.runId,
        temporalUiUrl: o.temporalUiUrl,
      });
      return sendJson(res, 200, detail, SECURITY_HEADERS);
    },
    command: async ({ req, res, url, params }) => {
      if (req.method !== 'POST') throw notInApi(req, url);
      const auth = checkToken(req.headers.authorization);
      if (auth !== 'ok') {
        const where = o.tokenHint ?? 'open the link `agent-canary ui` printed (it carries the token)';
        throw new HttpError(
          401,
          auth === 'missing'
            ? `commands need the dashboard token: ${where}`
            : `this browser holds a token of another dashboard (or of an earlier start of this one): ${where}`,
          { token: auth },
        );
      }
      const workflowId = parse(WorkflowIdSchema, decodeURIComponent(params.id ?? ''), 'workflowId');
      const command: Command = parse(CommandNameSchema, decodeURIComponent(params.command ?? ''), 'command');
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
        throw new HttpError(415, 'send the command as application/json');
      const body = parse(CommandBodySchema, await readBody(req), 'body');
      if (command === 'abort' && !body.reason) {
        const problems = [{ field: 'body.reason', message: 'an abort needs a reason' }];
        throw new HttpError(400, 'invalid body: body.reason: an abort needs a reason', { problems });
      }
      const detail = await rolloutDetail(o.client, workflowId, { queryTimeoutMs: 1_000 });
      const input = {
        by: body.by ?? 'dashboard',
        ...(body.reason ? { reason: body.reason } : {}),
        ...(command === 'promote' && body.full !== undefined ? { full: body.full } : {}),
        ...(command === 'extend' ? { duration: body.duration } : {}),
      };
      // A run that ended (or an older run) takes no command. A running one is admitted by the
      // workflow's own rule (admitCommand) on the status just read; the workflow has the last word.
      const why =
        detail.commands.length === 0
          ? `it is ${detail.badge.label}`
          : detail.status
            ? admitCommand(detail.status, command, input as never)
            : detail.commands.includes(command)
              ? null
              : `it is ${detail.badge.label}`;
      if (why) {
        throw new HttpError(
          409,
          `cannot ${command} ${workflowId}: ${why}` +
            (detail.commands.length ? ` (possible now: ${detail.commands.join(', ')})` : ''),
        );
      }
      const status = await sendCommand(o.client, detail.agent, command, input as never, { workflowId });
      return sendJson(res, 200, { ok: true, status }, SECURITY_HEADERS);
    },
  };

  const slack = o.slack ? slackActionsHandler(o.client, o.slack, log) : undefined;
  const slackActions = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!slack) throw new HttpError(404, 'Slack buttons are not configured on this dashboard');
    if (req.method !== 'POST') throw new HttpError(405, 'Slack posts its actions');
    const out = await slack(await readRaw(req, MAX_SLACK_BODY), req.headers);
    res.writeHead(out.status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
    res.end(out.body);
    // Acknowledged first (Slack waits 3 s at most), then carried out; the message says how it went.
    out.followUp?.().catch((err: unknown) => log(`slack: ${(err as Error)?.stack ?? err}`));
  };

  const pages = dashboardRoutes({
    api,
    file: ({ req, res, url }) => {
      const file = files.get(url.pathname)!;
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': STATIC_FILES[url.pathname],
        'content-length': file.length,
      });
      res.end(req.method === 'HEAD' ? undefined : file);
    },
    index: ({ req, res }) => {
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'text/html; charset=utf-8',
        'content-length': index.length,
      });
      res.end(req.method === 'HEAD' ? undefined : index);
    },
    healthz: ({ res }) => sendJson(res, 200, { ok: true }, SECURITY_HEADERS),
    files: Object.keys(STATIC_FILES),
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Signed by Slack (not a browser's request): served whatever the Host header says.
    if (req.url === '/slack/actions') return slackActions(req, res);
    if (LOOPBACK.has(host) && !LOOPBACK.has(hostOf(req.headers.host))) {
      throw new HttpError(421, 'this dashboard answers only to localhost addresses');
    }
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const { handler, params } = pages.find(req.method, url.pathname);
    return handler({ req, res, params, path: url.pathname, query: url.search, url });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const { status, message, extra } = toHttp(err);
      if (status >= 500 && status !== 502 && status !== 503)
        log(`dashboard: ${(err as Error)?.stack ?? err}`);
      if (res.headersSent) return void res.destroy();
      sendJson(res, status, { error: message, ...extra }, SECURITY_HEADERS);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
  return {
    url,
    urlWithToken: `${url}/#token=${encodeURIComponent(o.token)}`,
    rolloutUrl: (workflowId) => `${url}/rollouts/${encodeURIComponent(workflowId)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function toHttp(err: unknown): { status: number; message: string; extra: Record<string, unknown> } {
  if (err instanceof HttpError) return { status: err.status, message: err.message, extra: err.extra };
  if (err instanceof URIError) return { status: 400, message: 'malformed %-encoding in the path', extra: {} };
  if (err instanceof PlanError)
    return { status: 400, message: err.message, extra: { problems: err.problems } };
  if (err instanceof RolloutNotFoundError || err instanceof UnknownAgentError)
    return { status: 404, message: err.message, extra: {} };
  if (err instanceof CommandRefusedError) return { status: 409, message: err.message, extra: {} };
  // No worker, server unreachable...: the message says how to fix it; no stack for the browser.
  if (err instanceof RolloutError) return { status: 503, message: err.message, extra: {} };
  const message = (err as Error)?.message ?? String(err);
  if (/connect|unavailable|deadline/i.test(message))
    return { status: 503, message: `Temporal did not answer: ${message.split('\n')[0]}`, extra: {} };
  return { status: 500, message: 'internal error (logged by the dashboard)', extra: {} };
}

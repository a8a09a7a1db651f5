// A route table over find-my-way (Fastify's radix-tree router): each route names its path pattern
// and its handler; a handler checks its own methods, so the order of its refusals (401 before 404
// before 405, as each API has it) stays the handler's. Paths are matched as the client sent them:
// every `%` is escaped before the lookup, so the router never decodes, parameters and the `*` tail
// arrive raw (a handler decodes what it names, and the proxy checks the raw tail for encoded dot
// segments), and a malformed escape is the handler's to refuse, not a routing failure.
import type { IncomingMessage, ServerResponse } from 'node:http';
import FindMyWay from 'find-my-way';

/** Parameters as the client wrote them (not percent-decoded); `*` is the rest of a wildcard route. */
export type RouteParams = Record<string, string | undefined>;

export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  params: RouteParams;
  /** The path without its query, as sent. */
  path: string;
  /** The query with its `?`, or ''. */
  query: string;
}

export type RouteHandler<R extends RouteRequest = RouteRequest> = (r: R) => Promise<void> | void;

/** A route for every method (the handler answers 405 itself), or only for those named. */
export interface Route<R extends RouteRequest = RouteRequest> {
  path: string;
  handler: RouteHandler<R>;
  methods?: FindMyWay.HTTPMethod[];
}

export class RouteTable<R extends RouteRequest = RouteRequest> {
  private readonly router = FindMyWay({ maxParamLength: 4096 });

  constructor(
    routes: Route<R>[],
    private readonly notFound: RouteHandler<R>,
  ) {
    for (const r of routes) {
      if (r.methods) this.router.on(r.methods, r.path, noop, r.handler);
      else this.router.all(r.path, noop, r.handler);
    }
  }

  /** The route of an origin-form path (no query), or the table's answer for no route. */
  find(method: string | undefined, path: string): { handler: RouteHandler<R>; params: RouteParams } {
    // Origin-form only: an absolute URL (a proxy's request-target) routes nowhere.
    const found =
      path.charCodeAt(0) === 47
        ? this.router.find(
            (method ?? 'GET') as FindMyWay.HTTPMethod,
            path.includes('%') ? path.replaceAll('%', '%25') : path,
          )
        : null;
    return found
      ? { handler: found.store as RouteHandler<R>, params: found.params as RouteParams }
      : { handler: this.notFound, params: {} };
  }
}

/** Runs the request's route in a table whose handlers take the plain request. */
export function route(table: RouteTable, req: IncomingMessage, res: ServerResponse): Promise<void> | void {
  const raw = req.url ?? '/';
  const qi = raw.indexOf('?');
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const query = qi < 0 ? '' : raw.slice(qi);
  const { handler, params } = table.find(req.method, path);
  return handler({ req, res, params, path, query });
}

function noop(): void {}

/** A path segment decoded for lookups and messages; as sent when its escapes are malformed. */
export function decodeSegment(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

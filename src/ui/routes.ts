// The dashboard's route table: the JSON API, the static files, the page (the list at /, a rollout
// at /rollouts/<workflow id>, routed on the client) and /healthz. Pages are read-only: any other
// method is refused before a page is looked for, as an unknown page is.
import { RouteTable, type RouteHandler, type RouteRequest } from '../gateway/route-table';
import { HttpError } from './http-error';

export interface PageRequest extends RouteRequest {
  /** The request's URL, its path normalized (dot segments resolved). */
  url: URL;
}

/** The JSON API, a handler per route; each refuses the methods it does not take (405). */
export interface ApiHandlers {
  /** GET /api/rollouts */
  list: RouteHandler<PageRequest>;
  /** GET /api/rollouts/:id */
  detail: RouteHandler<PageRequest>;
  /** POST /api/rollouts/:id/:command */
  command: RouteHandler<PageRequest>;
}

export interface PageHandlers {
  api: ApiHandlers;
  /** One of `files`. */
  file: RouteHandler<PageRequest>;
  index: RouteHandler<PageRequest>;
  healthz: RouteHandler<PageRequest>;
  files: string[];
}

/** GET and HEAD only. */
const readOnly =
  (handler: RouteHandler<PageRequest>): RouteHandler<PageRequest> =>
  (r) => {
    if (r.req.method !== 'GET' && r.req.method !== 'HEAD') throw new HttpError(405, 'pages are read-only');
    return handler(r);
  };

const noPage = readOnly(({ url }) => {
  throw new HttpError(404, `no page at ${url.pathname}`);
});

const noApi: RouteHandler<PageRequest> = ({ url }) => {
  throw new HttpError(404, `no such API: ${url.pathname}`);
};

/** A rollout's page: its id is one non-empty segment. */
const rolloutPage =
  (index: RouteHandler<PageRequest>): RouteHandler<PageRequest> =>
  (r) =>
    r.params.id ? index(r) : noPage(r);

export function dashboardRoutes(h: PageHandlers): RouteTable<PageRequest> {
  const index = readOnly(h.index);
  return new RouteTable<PageRequest>(
    [
      { path: '/api/rollouts', handler: h.api.list },
      { path: '/api/rollouts/', handler: h.api.list },
      { path: '/api/rollouts/:id', handler: h.api.detail },
      { path: '/api/rollouts/:id/', handler: h.api.detail },
      { path: '/api/rollouts/:id/:command', handler: h.api.command },
      { path: '/api/*', handler: noApi },
      ...h.files.map((path) => ({ path, handler: readOnly(h.file) })),
      { path: '/', handler: index },
      { path: '/rollouts/:id', handler: rolloutPage(index) },
      { path: '/rollouts/:id/', handler: rolloutPage(index) },
      { path: '/healthz', handler: readOnly(h.healthz) },
    ],
    noPage,
  );
}

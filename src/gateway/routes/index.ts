// The gateway's routes, one table: each module brings its routes, one handler each.
import { printable } from '../../text/sanitize';
import { sendError } from '../http-util';
import { RouteTable } from '../route-table';
import { adminRoutes } from './admin-routes';
import { agentRoutes } from './agent-routes';
import type { GatewayContext } from './context';
import { ingestRoutes } from './ingest-routes';
import { statusRoutes } from './status-routes';

export type { GatewayContext } from './context';

export function gatewayRoutes(ctx: GatewayContext): RouteTable {
  return new RouteTable(
    [...agentRoutes(ctx), ...ingestRoutes(ctx), ...adminRoutes(ctx), ...statusRoutes(ctx)],
    ({ req, res, path }) => sendError(res, 404, `no route ${req.method} ${printable(path, 100)}`),
  );
}

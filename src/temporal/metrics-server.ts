// The worker's HTTP endpoint for Prometheus: GET /metrics (the rollout metrics) and GET /healthz.
// Nothing else is served, and nothing is read from the request but its method and path.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostPortProblem } from '../text/host-port';
import type { RolloutMetrics } from './rollout-metrics';

export interface MetricsServer {
  /** http://host:port of the listening socket. */
  url: string;
  close(): Promise<void>;
}

/** Why `value` is not a listen address for the metrics endpoint ("host:port"), or undefined. */
export function metricsListenProblem(value: string): string | undefined {
  return hostPortProblem(value.replace(/:0$/, ':1'));
}

/** Listens on `listen` ("host:port"; port 0 = any free port) and serves the metrics. */
export async function serveRolloutMetrics(metrics: RolloutMetrics, listen: string): Promise<MetricsServer> {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(i + 1));
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics or /healthz\n');
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

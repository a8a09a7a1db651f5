import path from 'node:path';
import type { Command } from 'commander';
import { NativeConnection } from '@temporalio/worker';
import { GatewayConfigError, loadGatewayConfig, startGateway, type RunningGateway } from '../../gateway';
import { createBackends, resolveBackendSettings, type BackendFlags } from '../../temporal/backends';
import { HTTP_PORT_OFFSET } from '../../temporal/connection';
import { startDevServer } from '../../temporal/devserver';
import { dashboardRolloutUrl } from '../../notify/format';
import { rolloutEventLine } from '../../temporal/rollout-events';
import { UsageError } from '../errors';
import { portFlag } from '../flags';
import {
  deadUpstreams,
  eventsPrintedNotifiers,
  startHint,
  upstreamFailureLog,
  upstreamWarnings,
} from '../dev-output';
import { startOwnDashboard } from '../../ui/standalone';
import type { RunningDashboard } from '../../ui/server';
import { ensureDataDir, keptToken } from '../dev-token';
import { addBackendOptions, installRuntime, runWorker } from './worker';

interface DevFlags extends BackendFlags {
  port: string;
  uiPort: string;
  httpPort?: string;
  dataDir: string;
  gatewayConfig: string;
  gatewayPort: string;
  dashboardPort: string;
  dashboard: boolean;
}

export function register(program: Command): void {
  addBackendOptions(
    program
      .command('dev')
      .description('embedded Temporal dev server (+ Web UI) with persistence, a worker and the gateway')
      .option('--port <port>', 'Temporal gRPC port', '7233')
      .option('--ui-port <port>', 'Temporal Web UI port', '8233')
      .option(
        '--http-port <port>',
        "Temporal's HTTP API port, which `status` and `list` read fast (default: the gRPC port + 10, where the CLI looks)",
      )
      .option('--data-dir <dir>', 'where rollouts and splits survive restarts', '.agent-canary/dev')
      .option(
        '--gateway-config <file>',
        'gateway config: agents, versions and their upstreams',
        'examples/gateway.yaml',
      )
      .option('--gateway-port <port>', 'gateway port', '8080')
      .option('--dashboard-port <port>', 'rollout dashboard port (agent-canary ui)', '8234')
      .option('--no-dashboard', 'do not serve the rollout dashboard'),
  ).action(async (flags: DevFlags) => {
    const port = portFlag('--port', flags.port);
    const uiPort = portFlag('--ui-port', flags.uiPort);
    // Where the CLI looks by default (connection.ts); a random one when the gRPC port is.
    const httpPort =
      flags.httpPort !== undefined
        ? portFlag('--http-port', flags.httpPort)
        : port && port + HTTP_PORT_OFFSET <= 65535
          ? port + HTTP_PORT_OFFSET
          : 0;
    const gatewayPort = portFlag('--gateway-port', flags.gatewayPort);
    const dashboardPort = portFlag('--dashboard-port', flags.dashboardPort);
    let gatewayConfig;
    {
      try {
        gatewayConfig = loadGatewayConfig(flags.gatewayConfig);
      } catch (err) {
        if (err instanceof GatewayConfigError) throw new UsageError(err.message);
        throw err;
      }
    }
    const say = (line: string) => process.stdout.write(`${line}\n`);
    // Before anything starts: a data dir that is a file or not ours is a usage error with a fix.
    ensureDataDir(flags.dataDir);
    // One line per rollout event, a rollout's first with its dashboard page once the dashboard runs.
    let page: ((workflowId: string) => string | undefined) | undefined;
    installRuntime((e) => say(rolloutEventLine(e, page)));
    const server = await startDevServer({
      port,
      uiPort,
      httpPort,
      dbFilename: path.join(flags.dataDir, 'temporal.db'),
      logFile: path.join(flags.dataDir, 'temporal.log'),
    }).catch((err: Error) => {
      throw new UsageError(
        `could not start the Temporal dev server on ports ${port}/${uiPort}/${httpPort} (gRPC, Web UI, HTTP API): ${err.message}\n` +
          '  Fix: stop what uses them, or pass --port/--ui-port/--http-port.',
      );
    });
    const failures = upstreamFailureLog(say);
    let gateway: RunningGateway | undefined;
    let connection: NativeConnection | undefined;
    let dashboard: RunningDashboard | undefined;
    try {
      let backendFlags: BackendFlags = {
        ...flags,
        namespace: server.namespace,
        uiUrl: flags.uiUrl ?? server.uiUrl ?? undefined,
      };
      {
        const token =
          flags.gatewayToken ??
          process.env.AGENT_CANARY_ADMIN_TOKEN ??
          keptToken(flags.dataDir, 'gateway-admin-token');
        gateway = await startGateway({
          config: gatewayConfig,
          port: gatewayPort,
          adminToken: token,
          // Local development: your agent's client posts outcomes and feedback without a token.
          ingestToken: null,
          dataDir: path.join(flags.dataDir, 'gateway'),
          onUpstreamFailure: failures.record,
        });
        backendFlags = { ...backendFlags, gatewayUrl: gateway.url, gatewayToken: token };
        say(`gateway:        ${gateway.url}  (admin token: ${token})`);
        if (!gatewayConfig)
          say('                no agents configured: pass --gateway-config <file> to route agent traffic');
        for (const line of upstreamWarnings(await deadUpstreams(gatewayConfig), flags.gatewayConfig))
          say(line);
      }
      if (flags.dashboard) {
        dashboard = await startOwnDashboard({
          address: server.address,
          namespace: server.namespace,
          port: dashboardPort,
          temporalUiUrl: server.uiUrl ?? undefined,
          log: say,
          // The same token across restarts: a browser that has it keeps working.
          token: keptToken(flags.dataDir, 'dashboard-token'),
          tokenHint: `open the dashboard link \`agent-canary dev\` printed, or paste the token kept in ${path.join(flags.dataDir, 'dashboard-token')}`,
        });
      }
      if (flags.dashboardUrl ?? dashboard) {
        backendFlags = { ...backendFlags, dashboardUrl: flags.dashboardUrl ?? dashboard?.url };
      }
      const settings = resolveBackendSettings(backendFlags);
      const dashboardUrl = settings.dashboardUrl;
      if (dashboardUrl) page = (id) => dashboardRolloutUrl(dashboardUrl, id);
      const deps = {
        ...createBackends(settings),
        notifiers: eventsPrintedNotifiers({
          dashboardUrl,
          temporalUiUrl: backendFlags.uiUrl,
          namespace: server.namespace,
        }),
      };
      connection = await NativeConnection.connect({ address: server.address });
      say(`Temporal:       ${server.address} (namespace ${server.namespace}, data in ${flags.dataDir})`);
      say(`Temporal Web UI: ${server.uiUrl}`);
      say(`Temporal HTTP API: ${server.httpUrl}`);
      if (dashboard) say(`dashboard:      ${dashboard.urlWithToken}`);
      say(startHint(gatewayConfig, flags.gatewayConfig, server.address));
      await runWorker(connection, server.namespace, deps);
    } finally {
      await dashboard?.close().catch(() => undefined);
      await connection?.close().catch(() => undefined);
      await gateway?.close().catch(() => undefined);
      failures.close();
      await server.stop();
      say('stopped: dev server, worker, gateway');
    }
  });
}

import type { Command } from 'commander';
import { GatewayConfigError, loadGatewayConfig, startGateway } from '../../gateway';
import { FailedError, UsageError } from '../errors';

interface GatewayFlags {
  config: string;
  port: string;
  host: string;
  dataDir: string;
  token?: string;
  ingestToken?: string;
  leaseSweep: string;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--port must be 0-65535, got "${value}"`);
  return n;
}

export function register(program: Command): void {
  program
    .command('gateway')
    .description('run the HTTP gateway: weighted, sticky routing to agent versions and per-version metrics')
    .requiredOption('-c, --config <file>', 'gateway config, YAML or JSON (agents, versions, upstreams)')
    .option('-p, --port <port>', 'port to listen on (0 = any free port)', '8080')
    .option('--host <host>', 'address to listen on (0.0.0.0 in containers)', '127.0.0.1')
    .option('--data-dir <dir>', 'where the traffic split is kept across restarts', '.agent-canary/gateway')
    .option('--token <token>', 'admin API bearer token (default: $AGENT_CANARY_ADMIN_TOKEN)')
    .option(
      '--ingest-token <token>',
      'bearer token for outcomes and feedback (default: $AGENT_CANARY_INGEST_TOKEN, else the admin token)',
    )
    .option('--lease-sweep <ms>', 'how often lapsed canary leases are returned to stable', '1000')
    .action(async (flags: GatewayFlags) => {
      const token = flags.token ?? process.env.AGENT_CANARY_ADMIN_TOKEN;
      if (!token) {
        throw new UsageError('the admin API needs a token: pass --token or set AGENT_CANARY_ADMIN_TOKEN');
      }
      const sweep = Number(flags.leaseSweep);
      if (!Number.isFinite(sweep) || sweep <= 0) {
        throw new UsageError(`--lease-sweep must be a positive number of ms, got "${flags.leaseSweep}"`);
      }
      let config;
      try {
        config = loadGatewayConfig(flags.config);
      } catch (err) {
        if (err instanceof GatewayConfigError) throw new UsageError(err.message);
        throw err;
      }
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} gateway: ${line}\n`);
      const gw = await startGateway({
        config,
        port: port(flags.port),
        host: flags.host,
        adminToken: token,
        // Outcomes and feedback move the judge's numbers: never open by default.
        ingestToken: flags.ingestToken ?? (process.env.AGENT_CANARY_INGEST_TOKEN || token),
        dataDir: flags.dataDir,
        leaseSweepMs: sweep,
        log,
      }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') {
          throw new FailedError(
            `${flags.host}:${flags.port} is already in use: pick another port with --port`,
          );
        }
        if (err.code === 'EADDRNOTAVAIL')
          throw new UsageError(`--host ${flags.host} is not an address of this machine`);
        throw err;
      });
      process.stdout.write(
        `gateway on ${gw.url}: agents ${[...config.agents.keys()].join(', ')}; ` +
          `admin API at ${gw.url}/v1/admin, Prometheus at ${gw.url}/metrics\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log(`${signal}: closing`);
          gw.close().then(resolve, resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}

import type { Command } from 'commander';
import { GatewayConfigError, loadGatewayConfig, startGateway } from '../../gateway';
import { SharedStateError } from '../../gateway/shared-state';
import { FailedError, UsageError } from '../errors';
import { portFlag } from '../flags';

interface GatewayFlags {
  config: string;
  port: string;
  host: string;
  dataDir: string;
  token?: string;
  ingestToken?: string;
  leaseSweep: string;
  sharedState?: string;
  replicaId?: string;
}

/** A PostgreSQL URL for the replicas' shared state; the message never repeats it (it holds a password). */
function sharedStateUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError('--shared-state must be a URL like postgres://user:password@host:5432/db');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new UsageError(`--shared-state must be a postgres:// URL, not ${url.protocol}//`);
  }
  if (!url.hostname || url.pathname.length <= 1) {
    throw new UsageError('--shared-state needs a host and a database: postgres://user:password@host:5432/db');
  }
  return value;
}

const port = (value: string) => portFlag('--port', value);

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
    .option(
      '--shared-state <url>',
      'replicas behind a load balancer: PostgreSQL they share for splits, feedback and metrics ' +
        '(default: $AGENT_CANARY_GATEWAY_DATABASE_URL; replaces --data-dir)',
    )
    .option('--replica-id <id>', "this replica's name among the others (default: host-pid-random)")
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
      const sharedRaw = flags.sharedState ?? process.env.AGENT_CANARY_GATEWAY_DATABASE_URL;
      const sharedState = sharedRaw
        ? { url: sharedStateUrl(sharedRaw), replicaId: flags.replicaId }
        : undefined;
      if (flags.replicaId !== undefined && !/^[A-Za-z0-9._:-]{1,100}$/.test(flags.replicaId)) {
        throw new UsageError('--replica-id must be 1-100 of A-Z a-z 0-9 . _ : -');
      }
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} gateway: ${line}\n`);
      const gw = await startGateway({
        config,
        port: port(flags.port),
        host: flags.host,
        adminToken: token,
        // Outcomes and feedback move the judge's numbers: never open by default.
        ingestToken: flags.ingestToken ?? (process.env.AGENT_CANARY_INGEST_TOKEN || token),
        dataDir: sharedState ? undefined : flags.dataDir,
        sharedState,
        leaseSweepMs: sweep,
        log,
      }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') {
          throw new FailedError(
            `${flags.host}:${flags.port} is already in use: pick another port with --port`,
          );
        }
        if (err instanceof SharedStateError) throw new FailedError(err.message);
        if (err.code === 'EADDRNOTAVAIL')
          throw new UsageError(`--host ${flags.host} is not an address of this machine`);
        throw err;
      });
      process.stdout.write(
        `gateway on ${gw.url}: ${agentList([...config.agents.keys()])}; ` +
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

/** The agents served, for the start line: a config for a thousand agents should not print them all. */
function agentList(names: string[]): string {
  const SHOWN = 10;
  if (names.length <= SHOWN) return `agents ${names.join(', ')}`;
  return `${names.length} agents: ${names.slice(0, SHOWN).join(', ')} and ${names.length - SHOWN} more`;
}

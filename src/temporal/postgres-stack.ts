// PostgreSQL plus a Temporal server on it, on this machine: what `scripts/temporal-postgres.sh up`
// runs and what the PostgreSQL end-to-end test starts, kills and starts again.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Log } from './cli-finder';
import { findServerBinaries, type ServerBinaries } from './postgres-binaries';
import { startPostgres, type RunningPostgres } from './postgres-db';
import { setupSchemas, startTemporalServer, type RunningTemporalServer } from './postgres-server';

export interface StackOptions {
  /** Holds the PostgreSQL cluster (pg/) and the server's config and log; kept across runs. */
  stateDir: string;
  /** Frontend gRPC port (0: a free one). */
  port?: number;
  /** PostgreSQL port (0: a free one). */
  postgresPort?: number;
  namespace?: string;
  binaries?: ServerBinaries;
  log?: Log;
}

export interface LocalStack {
  address: string;
  namespace: string;
  postgres: RunningPostgres;
  server(): RunningTemporalServer;
  /** Stops the server (SIGKILL with `crash`) and starts it again on the same ports and database. */
  restartServer(opts?: { crash?: boolean }): Promise<RunningTemporalServer>;
  stop(): Promise<void>;
}

export async function startLocalStack(options: StackOptions): Promise<LocalStack> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const stateDir = path.resolve(options.stateDir);
  // PostgreSQL may run as another account (when we are root): it must be able to enter this folder.
  await fs.mkdir(stateDir, { recursive: true, mode: 0o755 });
  const binaries = options.binaries ?? (await findServerBinaries({ log }));
  const postgres = await startPostgres({
    dataDir: path.join(stateDir, 'pg'),
    port: options.postgresPort,
    log,
  });
  let server: RunningTemporalServer;
  try {
    await setupSchemas(binaries.sqlTool, postgres, log);
    server = await startTemporalServer({
      binaries,
      db: postgres,
      stateDir: path.join(stateDir, 'temporal'),
      port: options.port,
      namespace: options.namespace,
      log,
    });
  } catch (err) {
    await postgres.stop();
    throw err;
  }
  const restartServer = async ({ crash = false } = {}) => {
    await (crash ? server.kill() : server.stop());
    server = await startTemporalServer({
      binaries,
      db: postgres,
      stateDir: path.join(stateDir, 'temporal'),
      ports: server.ports,
      namespace: server.namespace,
      log,
    });
    return server;
  };
  return {
    address: server.address,
    namespace: server.namespace,
    postgres,
    server: () => server,
    restartServer,
    stop: async () => {
      await server.stop();
      await postgres.stop();
    },
  };
}

// A Temporal server on PostgreSQL, the production topology, started without containers: schemas
// created and brought up to date with temporal-sql-tool, the server run from a generated config,
// then the namespace and agent-canary's search attributes registered. Used by
// `scripts/temporal-postgres.sh` and the PostgreSQL end-to-end test; docs/production.md explains
// the same steps for a team's own servers.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { msToTs } from '@temporalio/common/lib/time';
import YAML from 'yaml';
import { SA } from '../../workflows/messages';
import type { Log } from './cli-finder';
import { runTool, type ServerBinaries } from './postgres-binaries';

export interface SqlEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** The two databases a SQL-backed Temporal uses, each with the schema embedded in temporal-sql-tool. */
export const DATABASES = [
  { name: 'temporal', schema: 'postgresql/v12/temporal' },
  { name: 'temporal_visibility', schema: 'postgresql/v12/visibility' },
] as const;

/**
 * Creates both databases if missing and updates their schemas to what this server version needs.
 * Every step is idempotent, so this runs before each start, as after a server upgrade it must.
 */
export async function setupSchemas(sqlTool: string, db: SqlEndpoint, log: Log): Promise<void> {
  for (const { name, schema } of DATABASES) {
    const base = [
      '--plugin',
      'postgres12',
      '--ep',
      db.host,
      '-p',
      String(db.port),
      '-u',
      db.user,
      '--db',
      name,
    ];
    // The password travels in the environment, never on a command line others can read in `ps`.
    const env = { ...process.env, SQL_PASSWORD: db.password };
    const run = (args: string[]) => runTool(sqlTool, [...base, ...args], { env, timeoutMs: 120_000 });
    await run(['create-database']);
    await run(['setup-schema', '-v', '0.0']);
    await run(['update-schema', '--schema-name', schema]);
    log(`temporal-server: database ${name} at the schema of ${schema}`);
  }
}

export interface ServerPorts {
  frontend: number;
  frontendHttp: number;
  history: number;
  matching: number;
  worker: number;
  membership: [number, number, number, number];
}

/**
 * A free port in 20000-32767: the server stores its membership port in a SMALLINT column, so an
 * ephemeral port (32768 and up on Linux) makes it exit at start; staying below that range also
 * keeps it clear of the ports the OS hands to outgoing connections.
 */
export async function freeLowPort(taken: readonly number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_768);
    if (taken.includes(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port in 20000-32767 after 200 tries');
}

async function pickPorts(frontend?: number): Promise<ServerPorts> {
  const taken: number[] = frontend ? [frontend] : [];
  const next = async () => {
    const port = await freeLowPort(taken);
    taken.push(port);
    return port;
  };
  return {
    frontend: frontend || (await next()),
    frontendHttp: await next(),
    history: await next(),
    matching: await next(),
    worker: await next(),
    membership: [await next(), await next(), await next(), await next()],
  };
}

/** The development-postgres12.yaml of the server's repository, on the given ports and database. */
export function serverConfig(db: SqlEndpoint, ports: ServerPorts, dynamicConfigFile: string): object {
  const datastore = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${db.host}:${db.port}`,
      connectProtocol: 'tcp',
      user: db.user,
      password: db.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const rpc = (grpcPort: number, membershipPort: number, extra: object = {}) => ({
    rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: 4,
      datastores: {
        'postgres-default': datastore('temporal', 20),
        'postgres-visibility': datastore('temporal_visibility', 4),
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: {
      frontend: rpc(ports.frontend, ports.membership[0], { httpPort: ports.frontendHttp }),
      history: rpc(ports.history, ports.membership[1]),
      matching: rpc(ports.matching, ports.membership[2]),
      worker: rpc(ports.worker, ports.membership[3]),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `127.0.0.1:${ports.frontend}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    // The server resolves this path from its working directory, not from --root: keep it absolute.
    dynamicConfigClient: { filepath: dynamicConfigFile, pollInterval: '10s' },
  };
}

/** Dynamic settings the workflow relies on, stated rather than left to the version's defaults. */
const DYNAMIC_CONFIG = {
  'frontend.enableUpdateWorkflowExecution': [{ value: true }],
  'frontend.enableExecuteMultiOperation': [{ value: true }],
};

export interface TemporalServerOptions {
  binaries: ServerBinaries;
  db: SqlEndpoint;
  /** Config and server log live here. */
  stateDir: string;
  /** Frontend gRPC port; 0/undefined picks a free one. Give the ports of an earlier run to restart it in place. */
  port?: number;
  ports?: ServerPorts;
  namespace?: string;
  /** Workflow history kept after a rollout closes. */
  retentionDays?: number;
  log?: Log;
  startTimeoutMs?: number;
}

export interface RunningTemporalServer {
  address: string;
  namespace: string;
  ports: ServerPorts;
  pid: number;
  /** SIGTERM and wait; SIGKILL after 10 s. */
  stop(): Promise<void>;
  /** SIGKILL at once: a crash, as a test of recovery wants it. */
  kill(): Promise<void>;
}

/** Starts temporal-server and returns once the namespace takes queries on every search attribute. */
export async function startTemporalServer(options: TemporalServerOptions): Promise<RunningTemporalServer> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const namespace = options.namespace ?? 'default';
  const stateDir = path.resolve(options.stateDir);
  const ports = options.ports ?? (await pickPorts(options.port));
  const configDir = path.join(stateDir, 'config');
  await fs.mkdir(configDir, { recursive: true, mode: 0o700 });
  const dynamicConfigFile = path.join(configDir, 'dynamicconfig.yaml');
  await fs.writeFile(dynamicConfigFile, YAML.stringify(DYNAMIC_CONFIG));
  // The config holds the database password: readable by its owner only.
  await fs.writeFile(
    path.join(configDir, 'development.yaml'),
    YAML.stringify(serverConfig(options.db, ports, dynamicConfigFile)),
    { mode: 0o600 },
  );

  const out = await fs.open(path.join(stateDir, 'temporal-server.log'), 'a');
  const args = ['--root', stateDir, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'];
  const child = spawn(options.binaries.server, args, {
    cwd: stateDir,
    detached: true,
    stdio: ['ignore', out.fd, out.fd],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const reaper = spawn(
    process.execPath,
    [path.join(__dirname, '..', '..', 'bin', 'reaper.js'), String(process.pid), String(child.pid)],
    { detached: true, stdio: 'ignore' },
  );
  reaper.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      /* already gone */
    }
  };
  const halt = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      signal(sig);
      const timer = setTimeout(() => signal('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    try {
      process.kill(reaper.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
    await out.close().catch(() => undefined);
  };
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= halt('SIGTERM'));
  const kill = () => (stopping ??= halt('SIGKILL'));

  const address = `127.0.0.1:${ports.frontend}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 90_000);
  try {
    const connection = await untilServing(address, deadline, () => child.exitCode, stateDir);
    try {
      await ensureNamespace(connection, namespace, options.retentionDays ?? 1, log);
      await retryWhileNotFound(() => ensureSearchAttributes(connection, namespace, log), deadline);
      await untilUsable(connection, namespace, deadline);
    } finally {
      await connection.close();
    }
  } catch (err) {
    await stop();
    throw err;
  }
  log(
    `temporal-server: serving ${address}, namespace ${namespace} (log: ${path.join(stateDir, 'temporal-server.log')})`,
  );
  return { address, namespace, ports, pid: child.pid!, stop, kill };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const grpcCode = (err: unknown) => (err as { code?: number }).code;
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

async function untilServing(
  address: string,
  deadline: number,
  exitCode: () => number | null,
  stateDir: string,
): Promise<Connection> {
  let last = '';
  while (Date.now() < deadline) {
    if (exitCode() !== null)
      throw new Error(
        `temporal-server exited with code ${exitCode()}: see ${path.join(stateDir, 'temporal-server.log')}`,
      );
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return connection;
      } catch (err) {
        await connection.close();
        throw err;
      }
    } catch (err) {
      last = (err as Error).message;
      await sleep(250);
    }
  }
  throw new Error(`temporal-server at ${address} did not answer in time: ${last}`);
}

async function ensureNamespace(connection: Connection, namespace: string, retentionDays: number, log: Log) {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return;
  } catch (err) {
    if (grpcCode(err) !== NOT_FOUND) throw err;
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(`${retentionDays}d`),
    });
    log(`temporal-server: namespace ${namespace} registered (retention ${retentionDays}d)`);
  } catch (err) {
    if (grpcCode(err) !== ALREADY_EXISTS) throw err;
  }
}

/** A namespace just registered is "not found" until the frontend's namespace cache refreshes (~10 s). */
async function retryWhileNotFound(fn: () => Promise<void>, deadline: number): Promise<void> {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (grpcCode(err) !== NOT_FOUND || Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

async function ensureSearchAttributes(connection: Connection, namespace: string, log: Log) {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing: Record<string, number> = {};
  for (const key of Object.values(SA)) {
    const want = encodeSearchAttributeIndexedValueType(key.type)!;
    const have = existing.customAttributes?.[key.name];
    if (have === undefined || have === null) missing[key.name] = want;
    else if (have !== want)
      throw new Error(
        `search attribute ${key.name} exists in namespace ${namespace} with another type; agent-canary needs ${key.type}`,
      );
  }
  if (Object.keys(missing).length === 0) return;
  await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  log(`temporal-server: search attributes ${Object.keys(missing).join(', ')} added`);
}

/**
 * A fresh namespace reaches the frontend's cache some seconds after it is written, and search
 * attributes likewise: a visibility query naming every attribute succeeds only once both have.
 */
async function untilUsable(connection: Connection, namespace: string, deadline: number) {
  const query = Object.values(SA)
    .map((k) => (k.type === 'INT' ? `${k.name} = 0` : `${k.name} = 'probe'`))
    .join(' AND ');
  let last = '';
  while (Date.now() < deadline) {
    try {
      await connection.workflowService.countWorkflowExecutions({ namespace, query });
      return;
    } catch (err) {
      last = (err as Error).message;
      await sleep(250);
    }
  }
  throw new Error(`namespace ${namespace} was not usable in time: ${last}`);
}

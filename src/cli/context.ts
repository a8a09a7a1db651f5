// What every verb shares: connection flags, the client lifetime, agent names, --by.
import { userInfo } from 'node:os';
import type { Command } from 'commander';
// The one schema alone, not ../plan: `status` should not build the plan's schemas or load YAML.
import { AgentName } from '../plan/agent-name';
import {
  connectClient,
  resolveConnectionSettings,
  type Connected,
  type ConnectionFlags,
  type ConnectionSettings,
} from '../temporal/connection';
import { UsageError } from './errors';
import { describeZodError } from '../text/zod-problems';

/** Connection flags live on the root program, so they work before or after the verb. */
export function addConnectionOptions(program: Command): void {
  program
    .option('--address <host:port>', 'Temporal server (env TEMPORAL_ADDRESS, default localhost:7233)')
    .option('--namespace <name>', 'Temporal namespace (env TEMPORAL_NAMESPACE, default "default")')
    .option('--api-key <key>', 'API key, e.g. for Temporal Cloud (env TEMPORAL_API_KEY)')
    .option('--tls-cert <file>', 'TLS client certificate (env TEMPORAL_TLS_CLIENT_CERT_PATH)')
    .option('--tls-key <file>', 'TLS client key (env TEMPORAL_TLS_CLIENT_KEY_PATH)')
    .option('--tls-ca <file>', 'CA certificate of the server (env TEMPORAL_TLS_SERVER_CA_CERT_PATH)')
    .option('--tls-server-name <name>', 'server name to verify (env TEMPORAL_TLS_SERVER_NAME)')
    .option('--profile <name>', 'profile in the Temporal config file (env TEMPORAL_PROFILE)')
    .option(
      '--http-api <url>',
      "Temporal's HTTP API, which status and list read fast (env AGENT_CANARY_HTTP_API; default for a local " +
        'plain-text server: its gRPC port + 10; "off": the SDK only)',
    );
}

/** Connection settings from the environment and config file, overridden by the flags given. */
export function connectionSettings(cmd: Command): ConnectionSettings {
  const o = cmd.optsWithGlobals<ConnectionFlags>();
  return resolveConnectionSettings({
    address: o.address,
    namespace: o.namespace,
    apiKey: o.apiKey,
    tlsCert: o.tlsCert,
    tlsKey: o.tlsKey,
    tlsCa: o.tlsCa,
    tlsServerName: o.tlsServerName,
    profile: o.profile,
    httpApi: o.httpApi,
  });
}

/** Runs fn with a connected client and always closes the connection, so the process can exit. */
export async function withClient<T>(cmd: Command, fn: (c: Connected) => Promise<T>): Promise<T> {
  const connected = await connectClient(connectionSettings(cmd));
  try {
    return await fn(connected);
  } finally {
    await connected.connection.close().catch(() => undefined);
  }
}

export function defaultBy(): string {
  try {
    return userInfo().username || process.env.USER || 'unknown';
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

export function parseAgent(name: string): string {
  const r = AgentName.safeParse(name);
  if (!r.success) throw new UsageError(`agent "${name}": ${describeZodError(r.error)}`);
  return r.data;
}

export function printJson(data: unknown): void {
  process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
}

/** Optional link to the Temporal Web UI, when the user tells us where it is. */
export function uiUrl(): string | undefined {
  return process.env.TEMPORAL_UI_URL || process.env.AGENT_CANARY_UI_URL || undefined;
}

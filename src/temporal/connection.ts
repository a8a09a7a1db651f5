// Where the Temporal server is and how to authenticate, the Temporal way: a profile from the
// Temporal config file (temporal.toml), then TEMPORAL_* environment variables, then CLI flags.
import { hostPortProblem } from '../text/host-port';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import {
  loadClientConfigProfile,
  type ClientConfigProfile,
  type ConfigDataSource,
} from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { ServerUnreachableError, SettingsError } from './errors';

export const DEFAULT_ADDRESS = 'localhost:7233';
export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;

/** Overrides as given on the command line (all optional). */
export interface ConnectionFlags {
  address?: string;
  namespace?: string;
  apiKey?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsServerName?: string;
  profile?: string;
}

export interface ConnectionSettings {
  address: string;
  namespace: string;
  apiKey?: string;
  /** false: plain text; true: TLS with system roots; object: client cert and/or CA. */
  tls: TLSConfig | boolean;
  metadata?: Record<string, string>;
  connectTimeoutMs: number;
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SettingsError(
      `cannot read the ${what} file "${path}": ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
}

function loadData(src: ConfigDataSource | undefined, what: string): Buffer | undefined {
  if (!src) return undefined;
  if ('path' in src) return readFile(src.path, what);
  return Buffer.from(src.data);
}

/**
 * Merges profile, environment and flags into settings. Reads no network; reads TLS files now, so a
 * wrong path is reported before any connection attempt. `env` is injectable for tests.
 */
export function resolveConnectionSettings(
  flags: ConnectionFlags = {},
  env: Record<string, string | undefined> = process.env,
): ConnectionSettings {
  let profile: ClientConfigProfile;
  try {
    profile = loadClientConfigProfile({
      profile: flags.profile,
      overrideEnvVars: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<
        string,
        string
      >,
    });
  } catch (err) {
    throw new SettingsError(
      `cannot load the Temporal connection profile: ${(err as Error).message}.\n` +
        `  Fix: check --profile / TEMPORAL_PROFILE and the config file (TEMPORAL_CONFIG_FILE, default ~/.config/temporalio/temporal.toml).`,
    );
  }

  const apiKey = flags.apiKey ?? profile.apiKey;
  const t = profile.tls;
  const cert = flags.tlsCert
    ? readFile(flags.tlsCert, '--tls-cert')
    : loadData(t?.clientCert, 'TLS client cert');
  const key = flags.tlsKey ? readFile(flags.tlsKey, '--tls-key') : loadData(t?.clientKey, 'TLS client key');
  const ca = flags.tlsCa ? readFile(flags.tlsCa, '--tls-ca') : loadData(t?.serverCACert, 'TLS server CA');
  if (!!cert !== !!key) {
    throw new SettingsError(
      'a TLS client certificate needs its key and the other way round: give both --tls-cert and --tls-key ' +
        '(or TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH)',
    );
  }
  const serverName = flags.tlsServerName ?? t?.serverName;

  let tls: TLSConfig | boolean;
  if (cert || ca || serverName) {
    tls = {
      serverNameOverride: serverName,
      serverRootCACertificate: ca,
      clientCertPair: cert && key ? { crt: cert, key } : undefined,
    };
  } else if (t?.disabled === true) {
    tls = false;
  } else {
    // Any TLS setting, or an API key (which only travels over TLS, as with Temporal Cloud), means TLS.
    tls = t !== undefined || apiKey !== undefined;
  }

  const address = flags.address ?? profile.address ?? DEFAULT_ADDRESS;
  const problem = hostPortProblem(address);
  if (problem) {
    throw new SettingsError(`the Temporal address ${problem}`);
  }
  return {
    address,
    namespace: flags.namespace ?? profile.namespace ?? DEFAULT_NAMESPACE,
    apiKey,
    tls,
    metadata: profile.grpcMeta,
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
  };
}

function tlsOption(settings: ConnectionSettings): TLSConfig | undefined {
  if (settings.tls === false) return undefined;
  return settings.tls === true ? {} : settings.tls;
}

export function clientConnectionOptions(settings: ConnectionSettings): ConnectionOptions {
  return {
    address: settings.address,
    tls: tlsOption(settings),
    apiKey: settings.apiKey,
    metadata: settings.metadata,
    connectTimeout: settings.connectTimeoutMs,
  };
}

/** Options for the worker's NativeConnection.connect. */
export function nativeConnectionOptions(settings: ConnectionSettings): NativeConnectionOptions {
  return {
    address: settings.address,
    tls: tlsOption(settings),
    apiKey: settings.apiKey,
    metadata: settings.metadata,
  };
}

export interface Connected {
  client: Client;
  connection: Connection;
  namespace: string;
  address: string;
}

/** Connects within settings.connectTimeoutMs or throws ServerUnreachableError naming the address. */
export async function connectClient(settings: ConnectionSettings): Promise<Connected> {
  await probe(settings);
  let connection: Connection;
  try {
    connection = await Connection.connect(clientConnectionOptions(settings));
  } catch (err) {
    const msg = (err as Error).message;
    const detail = /deadline/i.test(msg) ? `no answer within ${settings.connectTimeoutMs / 1000}s` : msg;
    throw new ServerUnreachableError(settings.address, detail);
  }
  const client = new Client({ connection, namespace: settings.namespace });
  return { client, connection, namespace: settings.namespace, address: settings.address };
}

/**
 * A plain TCP connect first: gRPC keeps retrying a refused connection until its deadline, while a
 * refused port or an unknown host is certain at once, and the user should hear so at once.
 */
async function probe(settings: ConnectionSettings): Promise<void> {
  const i = settings.address.lastIndexOf(':');
  const host = settings.address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(settings.address.slice(i + 1));
  const failure = await new Promise<string | undefined>((resolve) => {
    const socket = tcpConnect({ host, port, timeout: settings.connectTimeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(`no answer within ${settings.connectTimeoutMs / 1000}s`);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(
        err.code === 'ECONNREFUSED'
          ? 'connection refused'
          : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
            ? `unknown host "${host}"`
            : (err.code ?? err.message),
      );
    });
  });
  if (failure) throw new ServerUnreachableError(settings.address, failure);
}

/** Describes the settings for humans without leaking secrets. */
export function describeSettings(s: ConnectionSettings): string {
  const tls = s.tls === false ? 'plain' : s.tls === true ? 'tls' : 'tls (custom certs)';
  return `${s.address} namespace=${s.namespace} ${tls}${s.apiKey ? ' api-key=***' : ''}`;
}

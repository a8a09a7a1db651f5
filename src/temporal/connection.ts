// Where the Temporal server is and how to authenticate, the Temporal way: a profile from the
// Temporal config file (temporal.toml), then TEMPORAL_* environment variables, then CLI flags.
import { hostPortProblem } from '../text/host-port';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
// Types only at load: the SDK client (protobuf root, gRPC) costs ~0.3 s to load, which `status` over
// the HTTP API never pays (connectClient loads it on first use).
import type { Client, Connection, ConnectionOptions } from '@temporalio/client';
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
/**
 * Once a TCP connect shows that something listens, how long the gRPC handshake may take: a busy
 * server answers late, and calling it unreachable after 3 s would be false.
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

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
  /** Base URL of Temporal's HTTP API (`http://host:port`), or "off". */
  httpApi?: string;
}

export interface ConnectionSettings {
  address: string;
  namespace: string;
  apiKey?: string;
  /** false: plain text; true: TLS with system roots; object: client cert and/or CA. */
  tls: TLSConfig | boolean;
  metadata?: Record<string, string>;
  connectTimeoutMs: number;
  /**
   * Temporal's HTTP API (the frontend's JSON gateway), which `status` reads without loading the SDK;
   * null: not used. See httpApiFor.
   */
  httpApi: URL | null;
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
  const metadata = profile.grpcMeta;
  return {
    address,
    namespace: flags.namespace ?? profile.namespace ?? DEFAULT_NAMESPACE,
    apiKey,
    tls,
    metadata,
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
    httpApi: httpApiFor(flags.httpApi ?? env.AGENT_CANARY_HTTP_API, { address, tls, apiKey, metadata }),
  };
}

/**
 * Temporal's own default for the frontend's HTTP port is the gRPC port + 10 (7233 -> 7243), and
 * `agent-canary dev` follows it.
 */
export const HTTP_PORT_OFFSET = 10;

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Where the HTTP API is, if it is used: the URL given (flag or AGENT_CANARY_HTTP_API), "off", or by
 * default, for a plain-text server on this machine, its gRPC port + 10. The default stays on loopback
 * (a closed port answers at once there; a remote firewall could swallow the attempt) and off under
 * TLS, an API key or gRPC metadata, which only the SDK path carries. An API key is never sent over
 * plain HTTP. Wherever the HTTP API refuses or is absent, the CLI falls back to the SDK.
 */
export function httpApiFor(
  given: string | undefined,
  s: Pick<ConnectionSettings, 'address' | 'tls' | 'apiKey' | 'metadata'>,
): URL | null {
  if (given !== undefined && given !== '') {
    if (given === 'off') return null;
    let url: URL;
    try {
      url = new URL(given);
    } catch {
      url = new URL('invalid:');
    }
    if (
      (url.protocol !== 'http:' && url.protocol !== 'https:') ||
      !url.hostname ||
      url.username ||
      url.password ||
      url.search ||
      url.hash
    ) {
      const shown = JSON.stringify(given.length > 100 ? `${given.slice(0, 100)}…` : given);
      throw new SettingsError(
        `the HTTP API address ${shown} is not an http(s)://host:port URL (or "off").\n` +
          "  Fix: pass --http-api http://localhost:7243 (the Temporal frontend's HTTP port), or off.",
      );
    }
    if (url.protocol === 'http:' && s.apiKey !== undefined) return null;
    return url;
  }
  if (s.tls !== false || s.apiKey !== undefined || (s.metadata && Object.keys(s.metadata).length)) {
    return null;
  }
  const i = s.address.lastIndexOf(':');
  const host = s.address.slice(0, i);
  const port = Number(s.address.slice(i + 1)) + HTTP_PORT_OFFSET;
  if (!LOOPBACK.test(host) || port > 65535) return null;
  return new URL(`http://${host}:${port}`);
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
  const { Client, Connection } = await import('@temporalio/client');
  let connection: Connection;
  const handshakeMs = Math.max(settings.connectTimeoutMs, HANDSHAKE_TIMEOUT_MS);
  try {
    connection = await Connection.connect({
      ...clientConnectionOptions(settings),
      connectTimeout: handshakeMs,
    });
  } catch (err) {
    const msg = (err as Error).message;
    const detail = /deadline/i.test(msg)
      ? `something listens there, but no Temporal answer within ${handshakeMs / 1000}s`
      : msg;
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

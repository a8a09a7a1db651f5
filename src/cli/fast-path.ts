// Where `status` and `list` read from: Temporal's HTTP API when there is one (no SDK to load, so the
// command answers in a fraction of the time), else, or whenever that API refuses or answers
// something this client cannot read, the SDK client, which has the canonical answer and errors.
import type { RolloutStatus } from '../../workflows/messages';
import { connectClient, type Connected, type ConnectionSettings } from '../temporal/connection';
import { HttpApiUnusableError, type HttpApiOptions } from '../temporal/http-api';
import { listOverHttp } from '../temporal/http-list';
import { getStatusOverHttp } from '../temporal/http-status';
import type { ListOptions, RolloutSummary } from '../temporal/list-parts';
import { DEFAULT_QUERY_TIMEOUT_MS } from '../temporal/status-parts';

export interface StatusSource {
  get(agent: string): Promise<RolloutStatus>;
  close(): Promise<void>;
}

/** AGENT_CANARY_DEBUG=1 says which way each answer came (no secrets: the URL has no credentials). */
function debug(line: string): void {
  if (process.env.AGENT_CANARY_DEBUG) process.stderr.write(`agent-canary: ${line}\n`);
}

function httpOptions(settings: ConnectionSettings, url: URL): HttpApiOptions {
  const tls = typeof settings.tls === 'object' ? settings.tls : undefined;
  return {
    url,
    apiKey: settings.apiKey,
    tls: tls && {
      ca: tls.serverRootCACertificate,
      cert: tls.clientCertPair?.crt,
      key: tls.clientCertPair?.key,
      servername: tls.serverNameOverride,
    },
  };
}

export function openStatusSource(settings: ConnectionSettings): StatusSource {
  let http = settings.httpApi ? httpOptions(settings, settings.httpApi) : undefined;
  let sdk: Promise<Connected> | undefined;
  return {
    async get(agent) {
      if (http) {
        try {
          const s = await getStatusOverHttp(http, agent, {
            namespace: settings.namespace,
            timeoutMs: DEFAULT_QUERY_TIMEOUT_MS,
          });
          debug(`status via the HTTP API at ${http.url.origin}`);
          return s;
        } catch (err) {
          if (!(err instanceof HttpApiUnusableError)) throw err;
          debug(`HTTP API at ${http.url.origin} not usable (${err.message}): status via the SDK`);
          // Once refused, refused for this command (a --watch does not retry it every refresh).
          http = undefined;
        }
      }
      sdk ??= connectClient(settings);
      const [{ client }, { getStatus }] = await Promise.all([sdk, import('../temporal/rollouts')]);
      return getStatus(client, agent);
    },
    async close() {
      const connected = await sdk?.catch(() => undefined);
      await connected?.connection.close().catch(() => undefined);
    },
  };
}

/** The rollout list, over the HTTP API or else through the SDK (listRollouts). */
export async function listRows(settings: ConnectionSettings, opts: ListOptions): Promise<RolloutSummary[]> {
  if (settings.httpApi) {
    const http = httpOptions(settings, settings.httpApi);
    try {
      const rows = await listOverHttp(http, settings.namespace, opts);
      debug(`list via the HTTP API at ${http.url.origin}`);
      return rows;
    } catch (err) {
      if (!(err instanceof HttpApiUnusableError)) throw err;
      debug(`HTTP API at ${http.url.origin} not usable (${err.message}): list via the SDK`);
    }
  }
  const [connected, { listRollouts }] = await Promise.all([
    connectClient(settings),
    import('../temporal/rollouts'),
  ]);
  try {
    return await listRollouts(connected.client, opts);
  } finally {
    await connected.connection.close().catch(() => undefined);
  }
}

// What `agent-canary dev` tells the person at the terminal: notifications as readable lines with
// links to the rollout's dashboard page (where the buttons are) and to the Temporal Web UI, and at
// start a warning for every upstream in the gateway config that nothing answers on.
import { connect } from 'node:net';
import type { GatewayConfig } from '../gateway/config';
import { createNotifiers, type Notifier, type NotifyEvent } from '../notify';
import { headline, rolloutUrl, stageLine } from '../notify/format';
import type { NotifyTarget } from '../plan/schema';
import { plainReason } from '../ui/plain';

export interface RolloutLinks {
  /** The dashboard page of a rollout, when the dashboard runs. */
  dashboard?: (workflowId: string) => string;
  temporalUiUrl?: string;
  namespace?: string;
}

/** "12:03:04 notification: support-bot: ROLLED BACK to stable (v1 -> v2), stage 1/3, canary at 20%" + why + links. */
export function notificationLines(
  event: NotifyEvent,
  links: RolloutLinks,
  now = new Date(event.at),
): string[] {
  const time = now.toISOString().slice(11, 19);
  const who = event.by && event.by !== 'agent-canary' ? ` by ${event.by}` : '';
  const lines = [`${time} notification: ${headline(event)}, ${stageLine(event)}${who}`];
  if (event.reason) lines.push(`         why: ${plainReason(event.reason)}`);
  const page = links.dashboard?.(event.workflowId);
  const temporal = rolloutUrl(links.temporalUiUrl, links.namespace, event.workflowId);
  if (page) lines.push(`         dashboard: ${page}`);
  if (temporal) lines.push(`         Temporal: ${temporal}`);
  return lines;
}

/** The log target as readable lines (the plain `log` target prints one JSON line per event). */
export class ReadableLogNotifier implements Notifier {
  readonly name = 'log';
  constructor(
    private readonly write: (line: string) => void,
    private readonly links: RolloutLinks,
  ) {}
  async send(event: NotifyEvent): Promise<void> {
    for (const line of notificationLines(event, this.links)) this.write(line);
  }
}

/** The plan's notifiers, with its `log` targets written for people instead of log pipelines. */
export function readableNotifiers(
  write: (line: string) => void,
  links: RolloutLinks,
): (targets: NotifyTarget[]) => Notifier[] {
  return (targets) => {
    const others = createNotifiers(
      targets.filter((t) => t.type !== 'log'),
      { uiUrl: links.temporalUiUrl, namespace: links.namespace },
    );
    return targets.some((t) => t.type === 'log')
      ? [...others, new ReadableLogNotifier(write, links)]
      : others;
  };
}

export interface DeadUpstream {
  agent: string;
  version: string;
  url: string;
  problem: string;
}

/** A TCP connect to host:port: enough to tell "nothing listens there" from "an agent is up". */
function reachable(url: URL, timeoutMs: number): Promise<string | null> {
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (problem: string | null) => {
      socket.destroy();
      resolve(problem);
    };
    socket.once('connect', () => done(null));
    socket.once('timeout', () => done(`no answer within ${timeoutMs} ms`));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(
        err.code === 'ECONNREFUSED'
          ? 'connection refused: nothing listens there'
          : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
            ? `unknown host ${host}`
            : (err.code ?? err.message),
      ),
    );
  });
}

/** Every version upstream of the config that does not answer, probed in parallel. */
export async function deadUpstreams(config: GatewayConfig, timeoutMs = 1_500): Promise<DeadUpstream[]> {
  const probes = [...config.agents.values()].flatMap((agent) =>
    [...agent.versions.entries()].map(async ([version, url]) => {
      const problem = await reachable(url, timeoutMs);
      return problem ? { agent: agent.name, version, url: url.href, problem } : null;
    }),
  );
  return (await Promise.all(probes)).filter((d): d is DeadUpstream => d !== null);
}

export function upstreamWarnings(dead: DeadUpstream[], configFile: string): string[] {
  if (dead.length === 0) return [];
  return [
    ...dead.map((d) => `warning: ${d.agent} ${d.version} at ${d.url} does not answer (${d.problem})`),
    `         requests routed there get 502 until it does. Fix: start your agent versions there, or point ` +
      `${configFile} at them (README: "Put your own agent behind the gateway").`,
  ];
}

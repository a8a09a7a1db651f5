// What `agent-canary dev` tells the person at the terminal besides the rollout events (one line
// each, src/temporal/rollout-events.ts): at start a warning for every upstream in the gateway config that nothing answers on, and while it
// runs a rate-limited line for the requests an upstream failed.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import type { GatewayConfig } from '../gateway/config';
import type { UpstreamFailure } from '../gateway/proxy';
import { createNotifiers, type Notifier } from '../notify';
import { parsePlan } from '../plan';
import type { NotifyTarget } from '../plan/schema';
import { printable } from '../text/sanitize';

export interface RolloutLinks {
  /** The dashboard's base URL, for the links of the other channels (Slack, webhooks). */
  dashboardUrl?: string;
  temporalUiUrl?: string;
  namespace?: string;
}

/**
 * The plan's notifiers without its `log` targets: `dev` prints every rollout event as a line already
 * (src/temporal/rollout-events.ts), and a JSON line beside each would say it twice.
 */
export function eventsPrintedNotifiers(links: RolloutLinks): (targets: NotifyTarget[]) => Notifier[] {
  return (targets) =>
    createNotifiers(
      targets.filter((t) => t.type !== 'log'),
      { uiUrl: links.temporalUiUrl, dashboardUrl: links.dashboardUrl, namespace: links.namespace },
    );
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

export interface FailureLogOptions {
  /** At most one line per upstream in this span (ms); the failures in between are counted. */
  everyMs?: number;
  now?: () => number;
}

/**
 * A log of upstream failures that cannot flood the terminal: the first failure of an upstream is
 * written at once, later ones at most once per `everyMs` with how many there were since the last line.
 * A burst that ends is still reported: the count is written when the quiet span is over.
 */
export function upstreamFailureLog(
  write: (line: string) => void,
  o: FailureLogOptions = {},
): { record: (f: UpstreamFailure) => void; close: () => void } {
  const everyMs = o.everyMs ?? 10_000;
  const now = o.now ?? Date.now;
  const upstreams = new Map<
    string,
    { lastAt: number; held: number; reason: string; timer?: NodeJS.Timeout }
  >();
  const flush = (key: string, f: Pick<UpstreamFailure, 'agent' | 'version'>) => {
    const u = upstreams.get(key)!;
    u.timer = undefined;
    if (u.held === 0) return;
    write(failureLine(f, u.held, everyMs, u.reason, now()));
    u.held = 0;
    u.lastAt = now();
  };
  return {
    record(f) {
      const key = `${f.agent}\0${f.version}`;
      const u = upstreams.get(key);
      const t = now();
      if (!u || t - u.lastAt >= everyMs) {
        if (u?.timer) clearTimeout(u.timer);
        write(failureLine(f, 1 + (u?.held ?? 0), everyMs, f.reason, t));
        upstreams.set(key, { lastAt: t, held: 0, reason: f.reason });
        return;
      }
      u.held += 1;
      u.reason = f.reason;
      // unref: a pending summary never keeps `dev` from exiting.
      u.timer ??= setTimeout(() => flush(key, f), everyMs - (t - u.lastAt)).unref();
    },
    close() {
      for (const u of upstreams.values()) if (u.timer) clearTimeout(u.timer);
    },
  };
}

function failureLine(
  f: Pick<UpstreamFailure, 'agent' | 'version'>,
  count: number,
  everyMs: number,
  reason: string,
  at: number,
): string {
  const time = new Date(at).toISOString().slice(11, 19);
  const what =
    count === 1 ? 'a request failed' : `${count} requests failed in the last ${Math.round(everyMs / 1000)} s`;
  return `${time} upstream ${f.agent} ${f.version}: ${what} (502 to the client): ${printable(reason)}`;
}

/**
 * What to run next, pointing at a plan that exists: a plan file beside the gateway config whose
 * agent the config routes (examples/tiny-plan.yaml for examples/tiny-gateway.yaml), else where to
 * start writing one.
 */
export function startHint(config: GatewayConfig, configFile: string, address: string): string {
  const env = address === '127.0.0.1:7233' ? '' : `export TEMPORAL_ADDRESS=${address}; `;
  const plan = planBeside(config, configFile);
  return plan
    ? `Next, in another shell: ${env}agent-canary start -f ${plan}   (a plan for ${[...config.agents.keys()].join(', ')})`
    : `Next: write a plan for ${[...config.agents.keys()].slice(0, 3).join(', ') || 'your agent'} (examples/plan.yaml is one; docs/getting-started.md step 6), then in another shell: ${env}agent-canary start -f <your plan>`;
}

function planBeside(config: GatewayConfig, configFile: string): string | null {
  const dir = path.dirname(configFile);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /\.ya?ml$/.test(n) && /plan/i.test(n));
  } catch {
    return null;
  }
  // Prefer a plan whose name shares the config's prefix ("tiny-" for tiny-gateway.yaml).
  const prefix = path.basename(configFile).split(/[-.]/)[0];
  names.sort((a, b) => Number(b.startsWith(prefix)) - Number(a.startsWith(prefix)) || a.localeCompare(b));
  for (const name of names.slice(0, 20)) {
    const file = path.join(dir, name);
    try {
      if (statSync(file).size > 256 * 1024) continue;
      const plan = parsePlan(readFileSync(file, 'utf8'), file);
      if (config.agents.has(plan.agent)) return file;
    } catch {
      // Not a plan, or not a valid one: not worth pointing at.
    }
  }
  return null;
}

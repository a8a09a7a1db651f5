// Rollouts of an agent graded by the local evaluator through the real gateway: two upstreams that
// answer with some of a rubric's expected points, users calling through the gateway, and the
// workflow on the dev server with the gateway as router and metrics source. Shared by the suites on
// the online evaluator and the shadow stage.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  startLocalEvaluator,
  type LocalEvaluator,
  type LocalEvaluatorOptions,
} from '../../src/demo/evaluator';
import type { RunningGateway } from '../../src/gateway';
import { GatewayMetricsSource } from '../../src/metrics/gateway';
import { GatewayRouter } from '../../src/router/gateway';
import { TOKEN, gateway, startUpstream, type Upstream } from '../gateway-support';

/** A rubric expecting each of `points` in a good answer. */
export const rubricFor = (title: string, points: readonly string[]) =>
  `${title}\n${points.map((p) => `expect: ${p}`).join('\n')}`;

/** An agent answering the n-th request (from 0) with `content(n)`, OpenAI chat-completions shape. */
export function agentAnswering(content: (n: number) => string) {
  let n = 0;
  return (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: content(n++) } }] }));
    });
  };
}

/**
 * Three users calling the agent through the gateway, a new session per request, until the returned
 * function is called; the x-agent-version of every answer goes into `seen`. Nobody posts feedback.
 */
export function traffic(gw: RunningGateway, agent: string, seen = new Set<string>()) {
  let stopped = false;
  const clients = Array.from({ length: 3 }, async (_, c) => {
    for (let i = 0; !stopped; i++) {
      const res = await fetch(`${gw.url}/v1/agents/${agent}/invoke/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-session-id': `u${c}-${i}` },
        body: JSON.stringify({ messages: [{ role: 'user', content: `What is the answer? (${c}.${i})` }] }),
      }).catch(() => undefined);
      if (res) {
        seen.add(res.headers.get('x-agent-version') ?? 'none');
        await res.text();
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  });
  return async () => {
    stopped = true;
    await Promise.all(clients);
  };
}

export interface EvaluatedAgent {
  agent: string;
  evaluator: LocalEvaluator;
  stable: Upstream;
  canary: Upstream;
  gw: RunningGateway;
}

/**
 * An agent `v1` (stable) / `v2` (canary) behind a gateway that grades answers with the local
 * evaluator; `extra` is merged into the agent's gateway config. Close it with `closeEvaluatedAgent`.
 */
export async function startEvaluatedAgent(options: {
  agent: string;
  rubric: string;
  stable: (req: IncomingMessage, res: ServerResponse) => void;
  canary: (req: IncomingMessage, res: ServerResponse) => void;
  sample: number;
  evaluator?: LocalEvaluatorOptions;
  extra?: Record<string, unknown>;
}): Promise<EvaluatedAgent> {
  const evaluator = await startLocalEvaluator(options.evaluator);
  const stable = await startUpstream('v1', options.stable);
  const canary = await startUpstream('v2', options.canary);
  const gw = await gateway({
    config: {
      agents: {
        [options.agent]: {
          stable: 'v1',
          versions: { v1: stable.url, v2: canary.url },
          ...options.extra,
          evaluate: {
            url: evaluator.url,
            model: 'local',
            rubric: options.rubric,
            sample: options.sample,
            maxPerMinute: 100_000,
          },
        },
      },
    },
    leaseSweepMs: 200,
  });
  return { agent: options.agent, evaluator, stable, canary, gw };
}

export async function closeEvaluatedAgent(a: EvaluatedAgent | undefined): Promise<void> {
  if (!a) return;
  await a.gw.close();
  await Promise.all([a.stable.close(), a.canary.close(), a.evaluator.close()]);
}

/** The workflow's dependencies when the gateway routes and measures. */
export const gatewayDeps = (gw: RunningGateway) => ({
  router: new GatewayRouter({ url: gw.url, token: TOKEN }),
  metrics: new GatewayMetricsSource({ url: gw.url, token: TOKEN }),
  notifiers: () => [],
});

// Router backend over the agent-canary gateway's admin API (DESIGN.md §5).
import { printable } from '../text/sanitize';
import { describeUrl, safeErrorReason } from '../outbound';
import { failureFrom, fetchWithTimeout } from './http';
import { z } from 'zod';
import { AppliedSplitSchema, type AppliedSplit, type DesiredSplit, type Router } from './types';
import { describeZodError } from '../text/zod-problems';

export interface GatewayRouterOptions {
  /** Gateway base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** The gateway's admin bearer token. */
  token: string;
  timeoutMs?: number;
}

export class GatewayRouter implements Router {
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: GatewayRouterOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  setSplit(agent: string, desired: DesiredSplit): Promise<AppliedSplit> {
    return this.call('PUT', agent, desired);
  }

  getSplit(agent: string): Promise<AppliedSplit> {
    return this.call('GET', agent);
  }

  /**
   * The gateway takes the admin token and knows the agent and both versions (gatewayPreflight), and
   * the versions' upstreams accept connections.
   */
  async preflight(agent: string, versions: { stable: string; canary: string }): Promise<string[]> {
    const problems = await gatewayPreflight(this.base, this.options.token, agent, versions, this.timeoutMs);
    if (problems.length > 0) return problems;
    const what = `gateway ${describeUrl(this.base)} versions of ${agent}`;
    const res = await fetchWithTimeout(
      `${this.base}/v1/admin/agents/${encodeURIComponent(agent)}/versions`,
      { headers: { authorization: `Bearer ${this.options.token}` } },
      this.timeoutMs,
      what,
    );
    if (!res.ok) return [(await failureFrom(res, what)).message];
    const parsed = VersionsAnswer.safeParse(await res.json());
    if (!parsed.success) return [`${what}: unexpected answer`];
    const known = new Map(parsed.data.versions.map((v) => [v.name, v]));
    for (const [role, name] of [
      ['stable', versions.stable],
      ['canary', versions.canary],
    ] as const) {
      const v = known.get(name);
      if (v && !v.answers) {
        problems.push(
          `the ${role} version "${name}" of ${agent} does not answer at ${v.upstream}${v.detail ? ` (${v.detail})` : ''}`,
        );
      }
    }
    return problems;
  }

  /**
   * A shadow stage mirrors requests, which may have side effects: the gateway config must say
   * `shadow: allowed` for the agent, and give it an evaluator to judge the pairs.
   */
  async preflightShadow(agent: string): Promise<string[]> {
    const what = `gateway ${describeUrl(this.base)}`;
    const res = await fetchWithTimeout(
      `${this.base}/v1/admin/agents/${encodeURIComponent(agent)}/versions`,
      { headers: { authorization: `Bearer ${this.options.token}` } },
      this.timeoutMs,
      `${what} versions of ${agent}`,
    );
    if (!res.ok) return [(await failureFrom(res, `${what} versions of ${agent}`)).message];
    const parsed = ShadowAnswer.safeParse(await res.json());
    if (!parsed.success) return [`${what}: unexpected answer`];
    const problems: string[] = [];
    if (parsed.data.shadow !== 'allowed') {
      problems.push(
        `the plan has a shadow stage, and ${what} does not allow mirroring ${agent}: set ` +
          `agents.${agent}.shadow: allowed in its config once the agent's tools are read-only or it ` +
          'honours x-agent-canary-shadow: 1',
      );
    }
    if (!parsed.data.evaluator) {
      problems.push(
        `the plan has a shadow stage, and ${what} has no evaluator for ${agent} to judge the pairs: ` +
          `set agents.${agent}.evaluate in its config (docs/evaluation.md)`,
      );
    }
    return problems;
  }

  private async call(method: 'GET' | 'PUT', agent: string, body?: DesiredSplit): Promise<AppliedSplit> {
    const what = `gateway ${method} split for ${agent}`;
    const res = await fetchWithTimeout(
      `${this.base}/v1/admin/agents/${encodeURIComponent(agent)}/split`,
      {
        method,
        headers: {
          authorization: `Bearer ${this.options.token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      },
      this.timeoutMs,
      what,
    );
    if (!res.ok) throw await failureFrom(res, what);
    const parsed = AppliedSplitSchema.safeParse(await res.json());
    if (!parsed.success) throw new Error(`${what}: unexpected answer: ${describeZodError(parsed.error)}`);
    return parsed.data;
  }
}

/** Gateways from before shadow stages do not say: not allowed. */
const ShadowAnswer = z.object({
  shadow: z.string().optional(),
  evaluator: z.boolean().optional(),
});

const VersionsAnswer = z.object({
  agent: z.string(),
  versions: z.array(
    z.object({ name: z.string(), upstream: z.string(), answers: z.boolean(), detail: z.string().optional() }),
  ),
});

/**
 * What would stop a rollout on this gateway: the admin token refused, the agent or a version not
 * configured. One line per problem; [] when ready. Throws only when the gateway cannot be reached.
 * Reads the admin metrics API, which lists every configured version of the agent.
 */
export async function gatewayPreflight(
  base: string,
  token: string,
  agent: string,
  versions: { stable: string; canary: string },
  timeoutMs: number,
): Promise<string[]> {
  const where = `gateway ${describeUrl(base)}`;
  const now = Date.now();
  const res = await fetchWithTimeout(
    `${base}/v1/admin/agents/${encodeURIComponent(agent)}/metrics?since=${now - 1000}&until=${now}`,
    { headers: { authorization: `Bearer ${token}` } },
    timeoutMs,
    `${where} preflight for ${agent}`,
  ).catch((err: Error) => {
    if (err.name === 'RouterConfigError') return err;
    throw err;
  });
  if (res instanceof Error) return [res.message];
  const text = await res.text().catch(() => '');
  if (res.status === 401) return [`${where} refused the admin token (HTTP 401): check --gateway-token`];
  if (res.status === 404) {
    // The admin API lists the configured agents: name them, as the unknown-version message does.
    const configured = /\(configured: ([^)]*)\)/.exec(text.slice(0, 4_000))?.[1];
    return [
      `${where} has no agent "${agent}" in its config` +
        (configured !== undefined ? ` (configured: ${printable(configured, 500) || 'none'})` : ''),
    ];
  }
  if (!res.ok) {
    const reason = safeErrorReason(text);
    if (res.status >= 500)
      throw new Error(`${where} preflight: HTTP ${res.status}${reason ? ` ${reason}` : ''}`);
    return [`${where} answered HTTP ${res.status}${reason ? ` ${reason}` : ''}`];
  }
  let known: string[];
  try {
    known = Object.keys((JSON.parse(text) as { versions: Record<string, unknown> }).versions ?? {});
  } catch {
    return [`${where} answered the metrics API with something that is not its JSON`];
  }
  const problems: string[] = [];
  for (const [role, version] of [
    ['stable', versions.stable],
    ['canary', versions.canary],
  ] as const) {
    if (!known.includes(version)) {
      problems.push(
        `${where}: ${role} version "${version}" is not configured for ${agent} (configured: ${known.join(', ')})`,
      );
    }
  }
  return problems;
}

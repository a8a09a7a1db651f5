import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { durationSchema } from '../plan/schema';
import { parseYaml } from '../plan/yaml';
import {
  DEFAULT_EVALUATION_NAMES,
  EvaluateSchema,
  EvaluationsSchema,
  type EvaluateConfig,
  type EvaluationTarget,
} from './evaluator-config';
import { PriceSchema, type Price } from './price';
import { problemsFromZod } from '../text/zod-problems';

const HttpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

const Name = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" and "-" only');

/** A version is either its own upstream URL, or an object that may leave the URL to the agent. */
const VersionSchema = z.union([
  HttpUrl,
  z.object({ upstream: HttpUrl.optional(), price: PriceSchema.optional() }).strict(),
]);

const AgentInputSchema = z
  .object({
    /** The version that gets all traffic until a split is stored (the first run of a gateway). */
    stable: Name,
    /**
     * Versions by name: a map name -> URL / {upstream}, or a list of names when all versions live
     * behind the agent's single `upstream` and tell themselves apart by the version header.
     */
    versions: z.union([
      z.record(Name, VersionSchema).refine((v) => Object.keys(v).length <= 100, 'at most 100 versions'),
      z.array(Name).min(1).max(100),
    ]),
    /** One URL for all versions; the chosen version travels in `versionHeader`. */
    upstream: HttpUrl.optional(),
    versionHeader: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name')
      .default('x-agent-version'),
    /** Longest silence from the upstream (connect, first byte, between stream chunks). */
    timeout: durationSchema(3_600_000).default(60_000),
    /** An evaluator grading sampled answers of every version (docs/evaluation.md). */
    evaluate: EvaluateSchema.optional(),
    /**
     * Whether the agent may receive mirrored requests in a shadow stage (docs/shadow.md): only when
     * its tools are read-only or it honours `x-agent-canary-shadow: 1`. The team's call; off by default.
     */
    shadow: z
      .enum(['allowed', 'not allowed'], {
        message:
          'must be "allowed" (its tools are read-only or it honours x-agent-canary-shadow) or "not allowed"',
      })
      .default('not allowed'),
  })
  .strict();

export const GatewayConfigInputSchema = z
  .object({
    agents: z
      .record(Name, AgentInputSchema)
      .refine((a) => Object.keys(a).length <= 1000, 'at most 1000 agents'),
    feedback: z
      .object({
        /** How long after a request its feedback is still joined. */
        ttl: durationSchema(7 * 86_400_000).default(3_600_000),
        /** Requests remembered for joining; the oldest are forgotten first (~200 bytes each). */
        maxPending: z.number().int().positive().max(5_000_000).default(500_000),
      })
      .strict()
      .default({ ttl: 3_600_000, maxPending: 500_000 }),
    metrics: z
      .object({
        /** How far back the admin API can answer (per-second resolution). */
        retention: durationSchema(24 * 3_600_000, 60_000).default(6 * 3_600_000),
      })
      .strict()
      .default({ retention: 6 * 3_600_000 }),
    /** OpenTelemetry gen_ai.evaluation.result events: which evaluation name feeds which metric. */
    evaluations: EvaluationsSchema.optional(),
    /** Prices by the model an answer names, for versions without a price of their own. */
    prices: z
      .record(z.string().min(1).max(128), PriceSchema)
      .refine((p) => Object.keys(p).length <= 1000, 'at most 1000 models')
      .optional(),
    /** Read tokens, cost, TTFT, tool calls and finish reasons from the answers (on by default). */
    usage: z.boolean().default(true),
  })
  .strict();
export type GatewayConfigInput = z.input<typeof GatewayConfigInputSchema>;

export interface AgentConfig {
  name: string;
  stable: string;
  /** version -> upstream URL */
  versions: Map<string, URL>;
  versionHeader: string;
  timeoutMs: number;
  evaluate?: EvaluateConfig;
  /** version -> price per million tokens, for the versions that have one. */
  prices?: Map<string, Price>;
  /** `shadow: allowed`: the agent may receive mirrored requests (absent = not allowed). */
  shadowAllowed?: boolean;
}

export interface GatewayConfig {
  agents: Map<string, AgentConfig>;
  feedback: { ttlMs: number; maxPending: number };
  metrics: { retentionMs: number };
  /** Evaluation name -> metric, for OTLP evaluation events. */
  evaluationNames?: Record<string, EvaluationTarget>;
  /** model -> price, for answers of versions without a price. */
  modelPrices?: Map<string, Price>;
  /** Whether answers are read for usage (tokens, cost, TTFT...). */
  usage?: boolean;
}

export interface ConfigProblem {
  field: string;
  message: string;
}

/** A gateway config that cannot be used; lists every problem with its field. */
export class GatewayConfigError extends Error {
  override name = 'GatewayConfigError';
  constructor(
    readonly problems: ConfigProblem[],
    source = 'gateway config',
  ) {
    super(
      `invalid ${source}:\n${problems.map((p) => `  - ${p.field || '(config)'}: ${p.message}`).join('\n')}`,
    );
  }
}

/** Validates a config object (as parsed from YAML/JSON, or built in code) and resolves upstreams. */
export function resolveGatewayConfig(input: unknown, source?: string): GatewayConfig {
  const parsed = GatewayConfigInputSchema.safeParse(input);
  if (!parsed.success) {
    throw new GatewayConfigError(problemsFromZod(parsed.error), source);
  }
  const problems: ConfigProblem[] = [];
  const agents = new Map<string, AgentConfig>();
  for (const [name, a] of Object.entries(parsed.data.agents)) {
    const versions = new Map<string, URL>();
    const prices = new Map<string, Price>();
    const entries: [string, string | { upstream?: string; price?: Price }][] = Array.isArray(a.versions)
      ? a.versions.map((v) => [v, {}])
      : Object.entries(a.versions);
    for (const [version, spec] of entries) {
      const url = typeof spec === 'string' ? spec : (spec.upstream ?? a.upstream);
      if (!url) {
        problems.push({
          field: `agents.${name}.versions.${version}`,
          message: `has no upstream: give it a URL or set agents.${name}.upstream`,
        });
        continue;
      }
      versions.set(version, new URL(url));
      if (typeof spec !== 'string' && spec.price) prices.set(version, spec.price);
    }
    if (entries.length === 0) {
      problems.push({ field: `agents.${name}.versions`, message: 'lists no version' });
    } else if (!entries.some(([v]) => v === a.stable)) {
      problems.push({
        field: `agents.${name}.stable`,
        message: `"${a.stable}" is not one of the versions (${entries.map(([v]) => v).join(', ')})`,
      });
    }
    agents.set(name, {
      name,
      stable: a.stable,
      versions,
      versionHeader: a.versionHeader.toLowerCase(),
      timeoutMs: a.timeout,
      ...(a.evaluate ? { evaluate: a.evaluate } : {}),
      ...(prices.size > 0 ? { prices } : {}),
      ...(a.shadow === 'allowed' ? { shadowAllowed: true } : {}),
    });
  }
  if (agents.size === 0) problems.push({ field: 'agents', message: 'configures no agent' });
  if (problems.length > 0) throw new GatewayConfigError(problems, source);
  return {
    agents,
    feedback: { ttlMs: parsed.data.feedback.ttl, maxPending: parsed.data.feedback.maxPending },
    metrics: { retentionMs: parsed.data.metrics.retention },
    evaluationNames: parsed.data.evaluations?.names ?? DEFAULT_EVALUATION_NAMES,
    ...(parsed.data.prices ? { modelPrices: new Map(Object.entries(parsed.data.prices)) } : {}),
    usage: parsed.data.usage,
  };
}

/** Reads a gateway config file (YAML or JSON). Throws GatewayConfigError with every problem found. */
export function loadGatewayConfig(path: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GatewayConfigError([{ field: '', message: `cannot read ${path}: ${(err as Error).message}` }]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new GatewayConfigError(
      [{ field: '', message: `not valid YAML or JSON: ${(err as Error).message}` }],
      path,
    );
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new GatewayConfigError([{ field: '', message: 'must be a mapping with an "agents" key' }], path);
  }
  return resolveGatewayConfig(doc, path);
}

// Pure HTTPRoute arithmetic: which rules carry an agent's traffic, the integer backendRef weights of
// a split, the JSON patch that writes them (and nothing else), and the split read back from a route.
import { z } from 'zod';
import { RouterConfigError } from '../router/types';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
/** Annotations written with every split; the sweeper needs only these to return traffic to stable. */
export const ANNOTATION = {
  leaseExpiresAt: 'agent-canary.dev/lease-expires-at',
  stable: 'agent-canary.dev/stable',
  canary: 'agent-canary.dev/canary',
  stableBackend: 'agent-canary.dev/stable-backend',
  canaryBackend: 'agent-canary.dev/canary-backend',
  owner: 'agent-canary.dev/owner',
  updatedAt: 'agent-canary.dev/updated-at',
  note: 'agent-canary.dev/note',
} as const;

/**
 * Weights out of 10000: DesiredSplit.canaryWeight is a percent with fractions, and 0.01% steps keep
 * every plan weight the validator accepts (two decimals) exact. Gateway API allows up to 1,000,000.
 */
export const WEIGHT_TOTAL = 10_000;

const BackendRefSchema = z
  .object({
    group: z.string().optional(),
    kind: z.string().optional(),
    name: z.string(),
    namespace: z.string().optional(),
    port: z.number().optional(),
    weight: z.number().int().nonnegative().optional(),
  })
  .passthrough();

/** The parts of an HTTPRoute we read; everything else is carried through untouched. */
export const HTTPRouteSchema = z
  .object({
    metadata: z
      .object({
        name: z.string(),
        namespace: z.string().optional(),
        resourceVersion: z.string(),
        annotations: z.record(z.string(), z.string()).optional(),
      })
      .passthrough(),
    spec: z
      .object({
        rules: z
          .array(z.object({ backendRefs: z.array(BackendRefSchema).optional() }).passthrough())
          .optional(),
      })
      .passthrough(),
  })
  .passthrough();
export type HTTPRoute = z.infer<typeof HTTPRouteSchema>;

/** A backendRef that points at a core Service (the default kind) in the route's namespace. */
function isService(ref: z.infer<typeof BackendRefSchema>, name: string): boolean {
  return (ref.group ?? '') === '' && (ref.kind ?? 'Service') === 'Service' && ref.name === name;
}

/**
 * Service name for a version: `{agent}` and `{version}` replaced, lowercased, characters a Service
 * name cannot hold (dots, underscores, plus signs...) turned into dashes. A result that is still no
 * DNS-1035 label (e.g. it starts with a digit) is refused rather than guessed at.
 */
export function backendName(template: string, agent: string, version: string): string {
  const raw = template.replaceAll('{agent}', agent).replaceAll('{version}', version);
  const label = raw
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(label) || label.length > 63) {
    throw new RouterConfigError(
      `kubernetes router: "${label}" (from "${template}" for version "${version}") is not a valid Service name (DNS-1035 label: a letter first, at most 63 characters). Fix: set --kube-backend (AGENT_CANARY_KUBE_BACKEND), e.g. "{agent}-{version}"`,
    );
  }
  return label;
}

export function routeName(template: string, agent: string): string {
  return template.replaceAll('{agent}', agent);
}

export function splitWeights(canaryPercent: number): { stable: number; canary: number } {
  const canary = Math.min(WEIGHT_TOTAL, Math.max(0, Math.round(canaryPercent * (WEIGHT_TOTAL / 100))));
  return { stable: WEIGHT_TOTAL - canary, canary };
}

export interface TargetRule {
  index: number;
  /** backendRef indices of the stable and canary Services (-1 when absent). */
  stable: number;
  canary: number;
  others: number[];
}

/**
 * The rules that split the agent's traffic: with a canary, those listing both Services; without one
 * (rollback, promotion), those listing the stable Service next to any other. Every other rule (one
 * that sends to the stable Service alone, or to neither) is not ours and is left untouched.
 */
export function targetRules(
  route: HTTPRoute,
  stableBackend: string,
  canaryBackend: string | null,
): TargetRule[] {
  const out: TargetRule[] = [];
  (route.spec.rules ?? []).forEach((rule, index) => {
    const refs = rule.backendRefs ?? [];
    const stable = refs.findIndex((r) => isService(r, stableBackend));
    const canary = canaryBackend === null ? -1 : refs.findIndex((r) => isService(r, canaryBackend));
    if (stable < 0 || (canaryBackend !== null ? canary < 0 : refs.length < 2)) return;
    const others = refs.map((_, i) => i).filter((i) => i !== stable && i !== canary);
    out.push({ index, stable, canary, others });
  });
  return out;
}

/** Whether any rule sends traffic to a Service (for messages about what is missing). */
export function rulesWith(route: HTTPRoute, backend: string): number[] {
  return (route.spec.rules ?? []).flatMap((rule, i) =>
    (rule.backendRefs ?? []).some((r) => isService(r, backend)) ? [i] : [],
  );
}

export type JsonPatchOp =
  { op: 'test' | 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

function pointer(...parts: (string | number)[]): string {
  return '/' + parts.map((p) => String(p).replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
}

/**
 * The patch for one split: weights of the target rules' backendRefs (other refs of those rules to 0,
 * so the split is exactly stable/canary) and our annotations. It starts with a test of the
 * resourceVersion: a route changed since it was read is refused (422) instead of overwritten.
 */
export function splitPatch(
  route: HTTPRoute,
  rules: TargetRule[],
  weights: { stable: number; canary: number },
  annotations: Record<string, string | null>,
): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [
    { op: 'test', path: '/metadata/resourceVersion', value: route.metadata.resourceVersion },
  ];
  for (const r of rules) {
    const set = (ref: number, weight: number) =>
      ops.push({
        op: 'add',
        path: pointer('spec', 'rules', r.index, 'backendRefs', ref, 'weight'),
        value: weight,
      });
    set(r.stable, weights.stable);
    if (r.canary >= 0) set(r.canary, weights.canary);
    for (const o of r.others) set(o, 0);
  }
  const existing = route.metadata.annotations;
  if (!existing) {
    const value = Object.fromEntries(Object.entries(annotations).filter(([, v]) => v !== null));
    ops.push({ op: 'add', path: '/metadata/annotations', value });
  } else {
    for (const [key, value] of Object.entries(annotations)) {
      if (value !== null) ops.push({ op: 'add', path: pointer('metadata', 'annotations', key), value });
      else if (key in existing) ops.push({ op: 'remove', path: pointer('metadata', 'annotations', key) });
    }
  }
  return ops;
}

export interface RouteSplit {
  stable: string | null;
  canary: string | null;
  stableBackend: string | null;
  canaryBackend: string | null;
  /** Percent of the first target rule's weight on the canary Service. */
  canaryWeight: number;
  leaseExpiresAt: number | null;
  updatedAt: number | null;
  note?: string;
}

/** Gateway API: a backendRef without a weight has weight 1. */
function weightOf(ref: { weight?: number } | undefined): number {
  return ref?.weight ?? 1;
}

/** What the route says now: versions from our annotations, the share from the weights themselves. */
export function readSplit(route: HTTPRoute): RouteSplit {
  const a = route.metadata.annotations ?? {};
  const stableBackend = a[ANNOTATION.stableBackend] ?? null;
  const canaryBackend = a[ANNOTATION.canaryBackend] ?? null;
  let canaryWeight = 0;
  if (stableBackend) {
    const [rule] = targetRules(route, stableBackend, canaryBackend);
    if (rule) {
      const refs = route.spec.rules![rule.index].backendRefs!;
      const total = refs.reduce((sum, r) => sum + weightOf(r), 0);
      const canary = rule.canary >= 0 ? weightOf(refs[rule.canary]) : 0;
      canaryWeight = total > 0 ? Number(((canary / total) * 100).toFixed(4)) : 0;
    }
  }
  return {
    stable: a[ANNOTATION.stable] ?? null,
    canary: a[ANNOTATION.canary] ?? null,
    stableBackend,
    canaryBackend,
    canaryWeight,
    leaseExpiresAt: parseTime(a[ANNOTATION.leaseExpiresAt]),
    updatedAt: parseTime(a[ANNOTATION.updatedAt]),
    note: a[ANNOTATION.note],
  };
}

function parseTime(v: string | undefined): number | null {
  if (!v) return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

/** The weights each target rule actually holds, to compare with what was written. */
export function ruleWeights(route: HTTPRoute, rules: TargetRule[]): { stable: number; canary: number }[] {
  return rules.map((r) => {
    const refs = route.spec.rules?.[r.index]?.backendRefs ?? [];
    return {
      stable: r.stable >= 0 ? weightOf(refs[r.stable]) : 0,
      canary: r.canary >= 0 ? weightOf(refs[r.canary]) : 0,
    };
  });
}

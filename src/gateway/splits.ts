// The current split per agent: validated writes from the admin API, lease expiry, persistence.
import { DesiredSplitSchema, type AppliedSplit } from '../router/types';
import type { AgentConfig } from './config';
import type { SplitStore } from './split-store';
import { problemsFromZod } from '../text/zod-problems';

/** The longest canary lease the gateway grants (the same bound as a plan's leaseTtl). */
export const MAX_LEASE_MS = 3_600_000;

/** A refused split change: HTTP status and one reason per problem, nothing changed. */
export class SplitRejected extends Error {
  override name = 'SplitRejected';
  constructor(
    readonly status: 400 | 404 | 503,
    readonly problems: { field: string; message: string }[],
  ) {
    super(problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join('; '));
  }
}

export class SplitTable {
  private readonly splits = new Map<string, AppliedSplit>();
  /**
   * Replicas only: past this epoch ms the shared state has not been read for too long, and this
   * replica routes 100% to stable (a replica cut off from the others must not keep serving a
   * canary share they may have withdrawn). Infinity for a single gateway.
   */
  private freshUntil = Infinity;

  constructor(
    private readonly agents: Map<string, AgentConfig>,
    private readonly store: SplitStore,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** Loads stored splits; a stored split naming versions the config no longer has is reset. */
  init(now: number): Promise<void> {
    const stored = this.store.load();
    let changed = false;
    for (const [name, agent] of this.agents) {
      const s = stored[name];
      if (s && agent.versions.has(s.stable) && (s.canary === null || agent.versions.has(s.canary))) {
        this.splits.set(name, { ...s, agent: name });
      } else {
        const stable = s && agent.versions.has(s.stable) ? s.stable : agent.stable;
        if (s) this.log(`stored split for ${name} names a version not in the config; 100% to ${stable}`);
        changed = true;
        this.splits.set(name, {
          agent: name,
          stable,
          canary: null,
          canaryWeight: 0,
          leaseExpiresAt: null,
          updatedAt: now,
          note: s ? 'stored split named a version missing from the config' : 'initial split from config',
        });
      }
    }
    const expired = this.expireLeases(now);
    return changed || expired ? this.persist() : Promise.resolve();
  }

  /** Hot path: the split as stored; callers check the lease with `canaryActive`. */
  peek(agent: string): AppliedSplit | undefined {
    const split = this.splits.get(agent);
    if (split === undefined || split.canary === null || this.freshUntil === Infinity) return split;
    return Date.now() > this.freshUntil ? stableOnly(split, 'shared state not read for too long') : split;
  }

  /** Replicas: the shared state was read now; canary shares hold until `until` without another read. */
  markFresh(until: number): void {
    this.freshUntil = until;
  }

  /**
   * Replicas: a split another replica stored. Applied as it is (the database already fenced it);
   * one naming a version this replica's config lacks is served as 100% stable here.
   */
  applyRemote(agent: string, split: AppliedSplit): void {
    const config = this.agents.get(agent);
    if (!config) return;
    if (!config.versions.has(split.stable)) {
      this.log(
        `${agent}: shared split names stable "${split.stable}", not in this replica's config; ignored`,
      );
      return;
    }
    if (split.canary !== null && !config.versions.has(split.canary)) {
      this.log(
        `${agent}: shared split names canary "${split.canary}", not in this replica's config; 100% stable here`,
      );
      this.splits.set(agent, stableOnly(split, `canary ${split.canary} is not in this replica's config`));
      return;
    }
    this.splits.set(agent, { ...split, agent });
  }

  all(): AppliedSplit[] {
    return [...this.splits.values()];
  }

  get(agent: string, now: number): AppliedSplit {
    const current = this.splits.get(agent);
    if (!current) throw this.unknownAgent(agent);
    if (this.expire(agent, current, now)) {
      this.persist().catch((err) => this.log(`could not persist split for ${agent}: ${String(err)}`));
    }
    return this.peek(agent)!;
  }

  /** Validates and applies a desired split, persists it, and returns it; throws SplitRejected. */
  async set(agent: string, body: unknown, now: number): Promise<AppliedSplit> {
    const config = this.agents.get(agent);
    if (!config) throw this.unknownAgent(agent);
    const parsed = DesiredSplitSchema.safeParse(body);
    if (!parsed.success) {
      throw new SplitRejected(400, problemsFromZod(parsed.error));
    }
    const d = parsed.data;
    const problems: { field: string; message: string }[] = [];
    const known = [...config.versions.keys()].join(', ');
    if (!config.versions.has(d.stable)) {
      problems.push({
        field: 'stable',
        message: `unknown version "${d.stable}" for ${agent} (known: ${known})`,
      });
    }
    if (d.canary !== null && !config.versions.has(d.canary)) {
      problems.push({
        field: 'canary',
        message: `unknown version "${d.canary}" for ${agent} (known: ${known})`,
      });
    }
    if (d.canary !== null && d.canary === d.stable) {
      problems.push({ field: 'canary', message: 'must differ from stable' });
    }
    if (d.canary === null && d.canaryWeight > 0) {
      problems.push({ field: 'canaryWeight', message: 'must be 0 when there is no canary' });
    }
    if (d.leaseMs !== null && d.leaseMs > MAX_LEASE_MS) {
      problems.push({
        field: 'leaseMs',
        message: `must be at most ${MAX_LEASE_MS} (an hour): a share nobody renews must lapse soon`,
      });
    }
    if (d.canary !== null && d.canaryWeight > 0 && d.leaseMs === null) {
      problems.push({
        field: 'leaseMs',
        message: 'a canary share needs a lease, so it falls back to stable if nobody renews it',
      });
    }
    problems.push(...shadowProblems(agent, config, d));
    if (problems.length > 0) throw new SplitRejected(400, problems);

    const previous = this.splits.get(agent);
    if (this.freshUntil !== Infinity && Date.now() > this.freshUntil) {
      // This replica cannot read what the others hold, so it cannot fence this write against them.
      throw new SplitRejected(503, [
        { field: '', message: 'this gateway replica cannot reach the shared state; try another replica' },
      ]);
    }
    if (previous?.decidedAt !== undefined && d.decidedAt !== undefined && d.decidedAt < previous.decidedAt) {
      // A write decided before the one in place (a dropped lease renewal arriving after an abort):
      // the newer decision stands.
      return { ...previous, note: `ignored a stale write decided at ${new Date(d.decidedAt).toISOString()}` };
    }
    const applied: AppliedSplit = {
      agent,
      stable: d.stable,
      canary: d.canary,
      canaryWeight: d.canary === null ? 0 : d.canaryWeight,
      leaseExpiresAt: d.canary !== null && d.leaseMs !== null ? now + d.leaseMs : null,
      updatedAt: now,
      ...(d.decidedAt !== undefined ? { decidedAt: d.decidedAt } : {}),
      ...(d.testRoutes && d.canary !== null ? { testRoutes: d.testRoutes } : {}),
      ...(d.shadow !== undefined && d.canary !== null ? { shadow: d.shadow } : {}),
    };
    this.splits.set(agent, applied);
    try {
      await this.persist();
    } catch (err) {
      // Not on disk means not applied: a restart would silently undo it. (Unless a later write
      // already replaced it: that one stands or falls by its own persist.)
      if (previous && this.splits.get(agent) === applied) this.splits.set(agent, previous);
      throw err;
    }
    return applied;
  }

  /** Returns agents whose canary lease lapsed to 100% stable, with a note saying why. */
  async sweep(now: number): Promise<void> {
    if (this.expireLeases(now)) await this.persist();
  }

  flush(): Promise<void> {
    return this.store.flush();
  }

  private expireLeases(now: number): boolean {
    let changed = false;
    for (const [agent, split] of this.splits) {
      if (this.expire(agent, split, now)) changed = true;
    }
    return changed;
  }

  private expire(agent: string, split: AppliedSplit, now: number): boolean {
    if (split.canary === null || split.leaseExpiresAt === null || now < split.leaseExpiresAt) return false;
    const note =
      `lease expired at ${new Date(split.leaseExpiresAt).toISOString()} without renewal: ` +
      `canary ${split.canary} (${split.canaryWeight}%) withdrawn, 100% to stable ${split.stable}`;
    this.splits.set(agent, {
      agent,
      stable: split.stable,
      canary: null,
      canaryWeight: 0,
      leaseExpiresAt: null,
      updatedAt: now,
      note,
      ...(split.decidedAt !== undefined ? { decidedAt: split.decidedAt } : {}),
    });
    this.log(`${agent}: ${note}`);
    return true;
  }

  private persist(): Promise<void> {
    return this.store.save(Object.fromEntries(this.splits));
  }

  private unknownAgent(agent: string): SplitRejected {
    return new SplitRejected(404, [
      { field: '', message: `unknown agent "${agent}" (configured: ${[...this.agents.keys()].join(', ')})` },
    ]);
  }
}

function stableOnly(split: AppliedSplit, why: string): AppliedSplit {
  const { shadow: _mirroring, ...rest } = split;
  return {
    ...rest,
    canary: null,
    canaryWeight: 0,
    leaseExpiresAt: null,
    note: `${why}: 100% to stable ${split.stable}`,
  };
}

/** A shadow split is written only for an agent whose config allows mirroring, at weight 0, on a lease. */
function shadowProblems(
  agent: string,
  config: AgentConfig,
  d: { canary: string | null; canaryWeight: number; leaseMs: number | null; shadow?: number },
): { field: string; message: string }[] {
  if (d.shadow === undefined) return [];
  const out: { field: string; message: string }[] = [];
  if (!config.shadowAllowed) {
    out.push({
      field: 'shadow',
      message:
        `agents.${agent}.shadow is not "allowed" in the gateway config: mirrored requests may have side ` +
        "effects (set it once the agent's tools are read-only or it honours x-agent-canary-shadow: 1)",
    });
  }
  if (d.canary === null) out.push({ field: 'shadow', message: 'needs a canary to mirror to' });
  if (d.canaryWeight > 0) {
    out.push({
      field: 'canaryWeight',
      message: 'must be 0 in a shadow stage (no user is served by the canary)',
    });
  }
  if (d.leaseMs === null) {
    out.push({ field: 'leaseMs', message: 'mirroring needs a lease, so it stops if nobody renews it' });
  }
  return out;
}

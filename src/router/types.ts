import { z } from 'zod';

/**
 * Test routes (the plan's `testRoutes`, docs/gates.md): requests with one of these headers (lower
 * case) or cookies at this exact value go to the canary while it has a share; `judged: false` keeps
 * them out of the metrics the judge reads. Routers that cannot route on them ignore the field.
 */
export const SplitTestRoutesSchema = z
  .object({
    match: z
      .array(
        z.union([
          z.object({ header: z.string().min(1).max(64), value: z.string().min(1).max(200) }).strict(),
          z.object({ cookie: z.string().min(1).max(64), value: z.string().min(1).max(200) }).strict(),
        ]),
      )
      .min(1)
      .max(10),
    judged: z.boolean(),
  })
  .strict();
export type SplitTestRoutes = z.infer<typeof SplitTestRoutesSchema>;

/**
 * The desired traffic split for one agent: absolute, so writing it twice is harmless (retries,
 * replays, lease renewals all send the same thing). A rollback is {canary: null, canaryWeight: 0}.
 * A promotion is {stable: <new version>, canary: null, canaryWeight: 0, leaseMs: null}.
 */
export const DesiredSplitSchema = z.object({
  stable: z.string().min(1),
  canary: z.string().min(1).nullable(),
  /** Percent of traffic for the canary, 0-100, fractions allowed (0.5 = half a percent). */
  canaryWeight: z.number().min(0).max(100),
  /**
   * How long the canary share is valid without renewal. The router falls back to 100% stable by
   * itself when it expires (the workflow may be terminated, which runs no code). null = no lease
   * (only valid when canaryWeight is 0 or the split has no canary).
   */
  leaseMs: z.number().positive().nullable(),
  /** Who asked, for the router's own record (e.g. the workflow id). */
  owner: z.string().optional(),
  /**
   * Epoch ms at which the writer decided this split (workflow time). A router keeps the newest: a
   * write decided before the split it holds is stale (a dropped lease renewal landing after an
   * abort's stable write) and is ignored. Absent: always applied.
   */
  decidedAt: z.number().int().nonnegative().optional(),
  reason: z.string().optional(),
  testRoutes: SplitTestRoutesSchema.optional(),
  /**
   * A shadow stage (docs/shadow.md): percent of requests mirrored to the canary, whose answers no
   * user sees. Needs canaryWeight 0 and a lease; routers that cannot mirror refuse it.
   */
  shadow: z.number().gt(0).max(100).optional(),
});
export type DesiredSplit = z.infer<typeof DesiredSplitSchema>;

export const AppliedSplitSchema = z.object({
  agent: z.string(),
  stable: z.string(),
  canary: z.string().nullable(),
  canaryWeight: z.number(),
  /** Epoch ms when the canary share lapses, or null. */
  leaseExpiresAt: z.number().nullable(),
  updatedAt: z.number(),
  /** decidedAt of the write in place (see DesiredSplit), when it had one. */
  decidedAt: z.number().optional(),
  /** Why the split is what it is now (e.g. "lease expired"), when the router changed it itself. */
  note: z.string().optional(),
  testRoutes: SplitTestRoutesSchema.optional(),
  /** Percent of requests mirrored to the canary while its lease holds (a shadow stage). */
  shadow: z.number().optional(),
});
export type AppliedSplit = z.infer<typeof AppliedSplitSchema>;

/** Where the traffic split is enforced (the gateway's admin API, a user webhook, a test double). */
export interface Router {
  setSplit(agent: string, desired: DesiredSplit): Promise<AppliedSplit>;
  getSplit(agent: string): Promise<AppliedSplit>;
  /**
   * Before a rollout starts: what would stop it (agent or a version unknown, credentials refused,
   * upstream not answering), one line per problem naming it; [] when ready. Throws only when the
   * router cannot be reached at all.
   */
  preflight?(agent: string, versions: { stable: string; canary: string }): Promise<string[]>;
  /**
   * Before a rollout whose plan has a shadow stage: what would stop mirroring (the agent's config
   * does not allow it, no evaluator to judge the pairs). Routers without it cannot mirror.
   */
  preflightShadow?(agent: string): Promise<string[]>;
}

/** Raised by routers for errors retrying cannot fix (unknown agent or version, bad token). */
export class RouterConfigError extends Error {
  override name = 'RouterConfigError';
}

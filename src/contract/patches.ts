// Every behaviour switch of the canaryRollout workflow, with when and why it came (as the SDK's own
// packages/workflow/src/flags.ts keeps its flags). A running rollout keeps the behaviour it started
// with: `patched(id)` is true only for runs that first ran after the patch. The code version of a run
// is the newest patch it took; docs/versions.md says how long each is supported and how one retires.

export interface Patch {
  /** The marker id recorded in history; never reused or renamed. */
  id: string;
  /** The code version that introduced it (CanaryCodeVersion of the runs started on it). */
  version: number;
  /** When it was introduced (UTC date). */
  since: string;
  reason: string;
  /** Retired: runs started before it are no longer supported; the id stays as deprecatePatch(id). */
  deprecated?: true;
}

export const PATCHES = {
  controlLoop: {
    id: 'control-loop-v2',
    version: 2,
    since: '2026-12-01',
    reason:
      'the rollout policy as a pure reducer interpreted by the workflow (workflows/policy/); before it, ' +
      'the frozen code of workflows/legacy (removed, with the support of code version 1)',
    deprecated: true,
  },
  judgeV3: {
    id: 'judge-v3',
    version: 3,
    since: '2026-12-01',
    reason: 'evidence carried across stages, graduated passes (policy rules 3)',
  },
  deferredChecks: {
    id: 'deferred-checks',
    version: 3,
    since: '2026-12-01',
    reason: 'each check handed to its activity with the time it is due: one activity and task per check',
  },
  outcomeStatus: {
    id: 'outcome-status',
    version: 3,
    since: '2026-12-01',
    reason: 'runs started with outcomeStatus close as Failed (rolled back) or Canceled (aborted)',
  },
  gates: {
    id: 'gates-v1',
    version: 4,
    since: '2026-12-05',
    reason: 'a pause on a failed check holds for a person; approval gates; the plan hooks',
  },
  shadow: {
    id: 'shadow-v1',
    version: 5,
    since: '2026-12-05',
    reason: 'a shadow stage mirrors requests (checked only for plans with one: no earlier run meets it)',
  },
  judgeV4: {
    id: 'judge-v4',
    version: 6,
    since: '2026-12-05',
    reason: 'conversations as the unit of analysis, incidents on both versions held',
  },
  planAtEdge: {
    id: 'plan-at-edge',
    version: 7,
    since: '2026-12-05',
    reason:
      'no plan parser in the workflow: a plan not checked by an agent-canary client is resolved by a ' +
      'first activity; the run records its code version (search attribute CanaryCodeVersion)',
  },
  judgeV5: {
    id: 'judge-v5',
    version: 8,
    since: '2026-12-05',
    reason:
      "a stage before the last may also pass on the means of its conversations' own rates and scores " +
      '(one failing user is one unit, not a burst of requests)',
  },
  boundedRuns: {
    id: 'bounded-runs',
    version: 9,
    since: '2026-12-05',
    reason:
      'a run continues as new after RUN_EVENT_LIMIT history events unless told otherwise: the SDK ' +
      'keeps every command a cached run issued until the run ends, so memory grew with each check',
  },
  judgeV6: {
    id: 'judge-v6',
    version: 10,
    since: '2026-12-05',
    reason:
      "a stage before the last keeps a metric's pass once crossed; the stages' feedback-horizon reads " +
      "and conversations' means summed across stages; early passes on 15 conversations a version",
  },
  staggeredRuns: {
    id: 'staggered-runs',
    version: 11,
    since: '2026-12-06',
    reason:
      "a new run's history bound is drawn from RUN_EVENT_LIMIT / 2 to RUN_EVENT_LIMIT: rollouts started " +
      'together continued as new at the same check, and their new runs queued for tens of seconds',
  },
  baselineV12: {
    id: 'baseline-v12',
    version: 12,
    since: '2026-12-06',
    reason:
      'one marker for every patch of code versions 2-11 (all true for a run started since): a new run ' +
      "recorded nine markers, each with the core's search-attribute upsert, 18 commands in its first " +
      'task, and the worker kept a state machine for each until the run ended; and a new run continues ' +
      'as new after 50-100 events (BASELINE_RUN_EVENT_LIMIT), not 75-150',
  },
} as const satisfies Record<string, Patch>;

/** The code version new runs start on: the newest patch's. */
export const CODE_VERSION: number = Math.max(...Object.values(PATCHES).map((p) => p.version));
/** The oldest code version a worker of this release replays (docs/versions.md). */
export const OLDEST_SUPPORTED_CODE_VERSION = 2;

// The names of the rollout contract: workflow type, task queue, ids, states, search attributes and
// failure types. Zero dependencies, so the workflow sandbox, the CLI's fast path (no SDK loaded) and
// every client read the same constants; the SDK's typed keys are built from them in
// workflows/messages.ts.

export const WORKFLOW_TYPE = 'canaryRollout';
export const PREFLIGHT_WORKFLOW_TYPE = 'canaryPreflight';
export const TASK_QUEUE = 'agent-canary';
export const workflowIdFor = (agent: string): string => `canary-${agent}`;

export const ROLLOUT_STATES = ['progressing', 'paused', 'promoted', 'rolled_back', 'aborted'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];
export const FINAL_STATES: readonly RolloutState[] = ['promoted', 'rolled_back', 'aborted'];
export const isFinal = (state: RolloutState): boolean => FINAL_STATES.includes(state);

/** Search attributes (DESIGN.md §3) with their types: the dev server registers them, `list` queries them. */
export const SEARCH_ATTRIBUTES = {
  agent: { name: 'CanaryAgent', type: 'KEYWORD' },
  state: { name: 'CanaryState', type: 'KEYWORD' },
  percent: { name: 'CanaryPercent', type: 'INT' },
  canaryVersion: { name: 'CanaryVersion', type: 'KEYWORD' },
  stableVersion: { name: 'StableVersion', type: 'KEYWORD' },
  /** The code version the rollout started on (src/contract/patches.ts), set by the client at start. */
  codeVersion: { name: 'CanaryCodeVersion', type: 'INT' },
} as const;
export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;
/** Search attribute names by key (what list queries and the HTTP API read). */
export const SA_NAMES = Object.fromEntries(
  Object.entries(SEARCH_ATTRIBUTES).map(([k, v]) => [k, v.name]),
) as { [K in SearchAttributeName]: (typeof SEARCH_ATTRIBUTES)[K]['name'] };

/**
 * The failure type a rollout closes with when it rolled back (runs started with outcomeStatus close
 * Failed for a rollback, Canceled for an abort; docs/web-ui.md): such a close is the rollout's own
 * ending, not an abnormal one.
 */
export const ROLLED_BACK_FAILURE = 'RolledBack';
/** A plan or start option the workflow cannot run with: the run fails at once, naming the fields. */
export const PLAN_FAILURE = 'PlanError';
/** The rollout ended because a backend refused it for good (a 4xx, unknown agent or version). */
export const CONFIG_FAILURE = 'RolloutConfigError';
/** An activity's failure that is an outage to wait out, even though it is marked non-retryable. */
export const BACKEND_UNAVAILABLE = 'BackendUnavailable';

/** Who the rollout's own decisions are by. */
export const SYSTEM_ACTOR = 'agent-canary';
/** The attribute of the workflow's log entry that carries a decision (src/temporal/rollout-events.ts). */
export const ROLLOUT_EVENT_KEY = 'rolloutEvent';

/** The longest a stage may observe, extensions included (src/plan/schema.ts PLAN_LIMITS.maxObserveMs). */
export const MAX_OBSERVE_MS = 7 * 24 * 3_600_000;

export const DECISION_ACTIONS = [
  'started',
  'stage_started',
  'paused',
  'resumed',
  'promoted_stage',
  'promoted',
  'rolled_back',
  'aborted',
  'inconclusive_streak',
  'check_failed',
  'paused_on_fail',
  'extended',
  'dismissed',
  'awaiting_approval',
  'approved',
  'hook_failed',
] as const;
export type DecisionAction = (typeof DECISION_ACTIONS)[number];

export const COMMANDS = ['pause', 'resume', 'promote', 'abort', 'extend', 'dismiss', 'approve'] as const;
export type CommandKind = (typeof COMMANDS)[number];

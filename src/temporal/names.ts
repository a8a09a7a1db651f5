// The names of the rollout contract (workflows/messages.ts) that the CLI's fast path needs, without
// loading messages.ts, which loads the SDK's common and workflow packages (~30 ms a command).
// test/cli-fast.test.ts checks that they equal messages.ts's.
import type { RolloutState } from '../../workflows/messages';

export const WORKFLOW_TYPE = 'canaryRollout';
export const TASK_QUEUE = 'agent-canary';
export const workflowIdFor = (agent: string): string => `canary-${agent}`;

/** Search attribute names, as messages.ts's SA keys name them. */
export const SA_NAMES = {
  agent: 'CanaryAgent',
  state: 'CanaryState',
  percent: 'CanaryPercent',
  canaryVersion: 'CanaryVersion',
  stableVersion: 'StableVersion',
} as const;

export const FINAL_STATES: readonly RolloutState[] = ['promoted', 'rolled_back', 'aborted'];
export const isFinal = (state: RolloutState): boolean => FINAL_STATES.includes(state);

/**
 * The failure type a rollout closes with when it rolled back (runs started with outcomeStatus close
 * Failed for a rollback, Canceled for an abort; docs/web-ui.md): such a close is the rollout's own
 * ending, not an abnormal one.
 */
export const ROLLED_BACK_FAILURE = 'RolledBack';

export const ROLLOUT_STATE_NAMES = ['progressing', 'paused', 'promoted', 'rolled_back', 'aborted'] as const;

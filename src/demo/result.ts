// The outcome of one demo rollout, and what counts as the demo having worked.
import type { RolloutState } from '../../workflows/messages';

export interface DemoRollout {
  agent: string;
  stable: string;
  canary: string;
  expected: RolloutState;
  state: RolloutState | 'unfinished';
  reason: string;
  /** The split the gateway applies once the rollout ended. */
  finalSplit: { stable: string; canary: string | null; canaryWeight: number } | null;
}

/** The rollout ended in the expected state and the gateway agrees: all traffic on the right version. */
export function endedAsExpected(r: DemoRollout): boolean {
  if (r.state !== r.expected || !r.finalSplit || r.finalSplit.canaryWeight !== 0) return false;
  return r.finalSplit.stable === (r.expected === 'promoted' ? r.canary : r.stable);
}

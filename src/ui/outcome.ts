// One badge per rollout run, from the two facts visibility holds: Temporal's execution status and
// the rollout's own state (search attribute CanaryState). Rollouts started by agent-canary close as
// Completed (promoted), Failed (rolled back) or Canceled (aborted); older ones and those started by
// other clients close as Completed whatever the outcome. A terminated one may still say
// "progressing", because terminate runs no workflow code. So the rollout's final state wins when it
// published one; otherwise the execution status says what happened.
import type { RolloutState } from '../../workflows/messages';

export const OUTCOMES = [
  'progressing',
  'paused',
  'promoted',
  'rolled_back',
  'failed_to_start',
  'aborted',
  'failed',
  'terminated',
  'canceled',
  'timed_out',
  'continued',
  'unknown',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/**
 * How the badge looks: good news, bad news (the canary was worse, or the workflow broke), needs a
 * look, under way, stopped by a person (not a verdict on the canary), or neutral.
 */
export type Tone = 'good' | 'bad' | 'warn' | 'live' | 'stopped' | 'neutral';

export interface Badge {
  outcome: Outcome;
  label: string;
  tone: Tone;
  /** One sentence for the tooltip: what this outcome means for the traffic. */
  meaning: string;
}

const BADGES: Record<Outcome, Omit<Badge, 'outcome'>> = {
  progressing: {
    label: 'progressing',
    tone: 'live',
    meaning: 'the canary gets traffic and is being checked',
  },
  paused: {
    label: 'paused',
    tone: 'warn',
    meaning: 'the observation clock is stopped; checks and automatic rollback go on',
  },
  promoted: { label: 'promoted', tone: 'good', meaning: 'the canary is the new stable, at 100%' },
  rolled_back: {
    label: 'rolled back',
    tone: 'bad',
    meaning: 'all traffic went back to stable: the canary was worse, or could not be routed',
  },
  failed_to_start: {
    label: 'failed to start',
    tone: 'warn',
    meaning:
      'the canary never got traffic: its first split was refused (a configuration problem such as an unknown agent or version); stable kept all traffic',
  },
  aborted: { label: 'aborted', tone: 'stopped', meaning: 'a person stopped it: all traffic back on stable' },
  failed: {
    label: 'failed',
    tone: 'bad',
    meaning: 'the workflow failed; the canary share falls back to stable when its lease runs out',
  },
  terminated: {
    label: 'terminated',
    tone: 'bad',
    meaning:
      'terminated without running rollout code; the canary share falls back to stable when its lease runs out',
  },
  canceled: {
    label: 'canceled',
    tone: 'bad',
    meaning: 'cancelled: the rollout rolled back to stable before it stopped',
  },
  timed_out: { label: 'timed out', tone: 'bad', meaning: 'the workflow timed out' },
  continued: {
    label: 'continued',
    tone: 'neutral',
    meaning: 'this run handed over to a new run of the same rollout',
  },
  unknown: { label: 'unknown', tone: 'neutral', meaning: 'no state published yet' },
};

/** `status` is Temporal's execution status name as the client gives it (Running, Completed, ...). */
export function outcomeOf(status: string, state: RolloutState | null): Outcome {
  switch (status.toUpperCase()) {
    case 'RUNNING':
      return state === 'paused' ? 'paused' : 'progressing';
    case 'COMPLETED':
      return state === 'promoted' || state === 'rolled_back' || state === 'aborted' ? state : 'unknown';
    case 'FAILED':
      // Rolled back, by the judge or because the router refused the canary: traffic is on stable.
      return state === 'rolled_back' ? state : 'failed';
    case 'TERMINATED':
      return 'terminated';
    case 'CANCELLED':
    case 'CANCELED':
      // Every cancel is an abort that rolled back first: the rollout's state says so.
      return state === 'aborted' ? state : 'canceled';
    case 'TIMED_OUT':
      return 'timed_out';
    case 'CONTINUED_AS_NEW':
      return 'continued';
    default:
      return 'unknown';
  }
}

/**
 * `neverRouted`: the run's history shows no split that gave the canary traffic and no check, so a
 * "rolled back" is a start that failed (a refused first split), not a verdict on the canary.
 */
export function badgeFor(status: string, state: RolloutState | null, neverRouted = false): Badge {
  const judged = outcomeOf(status, state);
  const outcome = judged === 'rolled_back' && neverRouted ? 'failed_to_start' : judged;
  return { outcome, ...BADGES[outcome] };
}

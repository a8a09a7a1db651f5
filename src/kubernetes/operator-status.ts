// What an AgentRollout's status says, from what the operator saw: the rollout's own status (query
// `status`), or why there is no rollout. Pure, so every state's conditions are tested without a
// cluster. The conditions are what `kubectl wait --for=condition=...`, Argo CD and Flux read:
//   Progressing  True while the rollout runs (paused included: it is still judged)
//   Promoted     True once the canary is the stable version
//   RolledBack   True once all traffic went back to stable (a failed check, or an abort)
//   Ready        True when what the spec asks for is serving: promoted, or nothing to roll out
import type { RolloutStatus } from '../../workflows/messages';
import type { AgentRolloutStatus, Condition } from './agent-rollout';

type ConditionType = Condition['type'];
type Desired = { type: ConditionType; status: Condition['status']; reason: string; message: string };

/** The conditions, keeping each one's lastTransitionTime while its status does not change. */
export function withConditions(
  prev: Condition[] | undefined,
  desired: Desired[],
  generation: number | undefined,
  now: string,
): Condition[] {
  return desired.map((d) => {
    const old = prev?.find((c) => c.type === d.type);
    return {
      ...d,
      message: d.message.slice(0, 32_000),
      lastTransitionTime: old && old.status === d.status ? old.lastTransitionTime : now,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
    };
  });
}

const cond = (
  type: ConditionType,
  status: boolean | 'Unknown',
  reason: string,
  message: string,
): Desired => ({
  type,
  status: status === 'Unknown' ? 'Unknown' : status ? 'True' : 'False',
  reason,
  message,
});

/** A resource with no rollout running for a reason of its own (invalid spec, agent busy, steady). */
export function notRolling(
  state: 'invalid' | 'waiting' | 'steady',
  reason: string,
  message: string,
): Desired[] {
  const ready = state === 'steady';
  return [
    cond('Progressing', false, reason, message),
    cond('Promoted', false, reason, message),
    cond('RolledBack', false, reason, message),
    cond('Ready', ready, reason, message),
  ];
}

/** The reason of the last decision of one of these kinds, or the fallback. */
function lastReason(s: RolloutStatus, actions: string[], fallback: string): string {
  const d = [...s.decisions].reverse().find((x) => actions.includes(x.action));
  return d?.reason || fallback;
}

/** The resource's status fields and conditions for a rollout's status. */
export function fromRollout(s: RolloutStatus): {
  fields: Pick<
    AgentRolloutStatus,
    'state' | 'stage' | 'stageCount' | 'weight' | 'stageStartedAt' | 'lastVerdict' | 'reason'
  >;
  conditions: Desired[];
} {
  const stage = `stage ${s.stageIndex + 1} of ${s.stageCount}, canary ${s.canaryPercent}%`;
  const base = {
    stage: s.stageIndex + 1,
    stageCount: s.stageCount,
    weight: s.canaryPercent,
    stageStartedAt: s.stageStartedAt,
    ...(s.lastAnalysis
      ? {
          lastVerdict: {
            verdict: s.lastAnalysis.verdict,
            at: s.lastAnalysis.at,
            reason: s.lastAnalysis.reason.slice(0, 4000),
          },
        }
      : {}),
  };
  if (s.execution) {
    // Ended without the rollout's own decision (terminated, timed out, a configuration error): the
    // router's lease takes the canary share back; the workflow did not say it did.
    const why = `the rollout's execution ended ${s.execution.status.toLowerCase()}${s.execution.cause ? `: ${s.execution.cause}` : ''}`;
    const reason = s.execution.status === 'TERMINATED' ? 'Terminated' : 'ExecutionFailed';
    return {
      fields: { ...base, state: 'failed', reason: why.slice(0, 4000) },
      conditions: [
        cond('Progressing', false, reason, why),
        cond('Promoted', false, reason, why),
        cond('RolledBack', 'Unknown', reason, `${why}; the canary share lapses with its lease`),
        cond('Ready', false, reason, why),
      ],
    };
  }
  switch (s.state) {
    case 'progressing':
    case 'paused': {
      const paused = s.state === 'paused';
      const msg = `${paused ? 'paused at ' : ''}${stage}`;
      const reason = paused ? 'Paused' : 'Progressing';
      return {
        fields: { ...base, state: s.state },
        conditions: [
          cond('Progressing', true, reason, msg),
          cond('Promoted', false, reason, msg),
          cond('RolledBack', false, reason, msg),
          cond('Ready', false, reason, msg),
        ],
      };
    }
    case 'promoted': {
      const why = lastReason(s, ['promoted'], `${s.canary} promoted`);
      const msg = `${s.canary} is stable: ${why}`;
      return {
        fields: { ...base, state: 'promoted', weight: 100, reason: why.slice(0, 4000) },
        conditions: [
          cond('Progressing', false, 'Promoted', msg),
          cond('Promoted', true, 'Promoted', msg),
          cond('RolledBack', false, 'Promoted', msg),
          cond('Ready', true, 'Promoted', msg),
        ],
      };
    }
    case 'rolled_back':
    case 'aborted': {
      const aborted = s.state === 'aborted';
      const why = lastReason(s, [s.state], aborted ? 'aborted' : 'rolled back');
      const reason = aborted ? 'Aborted' : 'RolledBack';
      const msg = `all traffic on ${s.stable}: ${why}`;
      return {
        fields: { ...base, state: s.state, weight: 0, reason: why.slice(0, 4000) },
        conditions: [
          cond('Progressing', false, reason, msg),
          cond('Promoted', false, reason, msg),
          cond('RolledBack', true, reason, msg),
          cond('Ready', false, reason, msg),
        ],
      };
    }
  }
}

/** The status has ended for good: no more polling of the rollout until the spec changes. */
export function settled(status: AgentRolloutStatus | undefined): boolean {
  return ['promoted', 'rolled_back', 'aborted', 'failed', 'invalid', 'steady'].includes(status?.state ?? '');
}

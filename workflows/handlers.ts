// The rollout's message handlers: Signals (from the Web UI and any tooling: never refused on shape
// alone), Updates (validated by plain guards, then the policy's one admission rule, and answered once
// their effect happened) and the status query.
import { ApplicationFailure, condition, log, setHandler } from '@temporalio/workflow';
import { commandOf, lenientAbort } from './guards';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  dismissSignal,
  dismissUpdate,
  extendSignal,
  extendUpdate,
  pauseSignal,
  pauseUpdate,
  promoteSignal,
  promoteUpdate,
  resumeSignal,
  resumeUpdate,
  statusQuery,
} from './messages';
import type { Command } from './policy';
import type { Rollout } from './rollout';

const UPDATES = [
  [
    approveUpdate,
    'approve',
    'Open the current stage\'s approval gate, e.g. {"by": "me", "reason": "looked at it"}',
  ],
  [
    pauseUpdate,
    'pause',
    'Pause: freeze the observation clock (checks go on; a clear failure still rolls back)',
  ],
  [resumeUpdate, 'resume', 'Resume a paused rollout'],
  [
    promoteUpdate,
    'promote',
    'Next stage now, or {"full": true} for 100%. Answers once the new split is written.',
  ],
  [abortUpdate, 'abort', 'Abort: all traffic back to stable, e.g. {"reason": "bad answers", "by": "me"}'],
  [
    extendUpdate,
    'extend',
    'More observation for the current stage, e.g. {"duration": "30m", "reason": "why", "by": "me"}',
  ],
  [
    dismissUpdate,
    'dismiss',
    "Clear the stage's failed checks (and a pause on failure) and go on, judging fresh data",
  ],
] as const;

/**
 * Updates are registered before the plan is known (a plan from another client is resolved by the
 * first activity): one that comes meanwhile waits for the rollout rather than being rejected as
 * unknown, and is admitted then.
 */
export function installUpdates(current: () => Rollout | undefined): void {
  for (const [def, kind, description] of UPDATES) {
    setHandler(
      def as typeof pauseUpdate,
      async (input: unknown) => {
        const cmd = accepted(kind, input);
        let r = current();
        if (!r) {
          await condition(() => current() !== undefined);
          r = current()!;
          const why = r.refusal(cmd);
          if (why) throw ApplicationFailure.nonRetryable(why, 'CommandRefused');
        }
        return r.viaUpdate(cmd);
      },
      {
        // Synchronous, as the SDK requires: a plain guard on the input, then the policy's admission.
        validator: (input: unknown) => {
          const checked = commandOf(kind, input);
          if (!checked.ok) throw new Error(checked.problem);
          const why = current()?.refusal(checked.value);
          if (why) throw new Error(why);
        },
        description,
      },
    );
  }
}

/** Signals and the status query, once the rollout runs (the SDK keeps Signals that came before). */
export function installSignals(r: Rollout): void {
  const signalled = (kind: Command['kind'], input: unknown): Command => {
    const checked = commandOf(kind, input);
    return checked.ok ? checked.value : ({ kind, input: {} } as Command);
  };
  setHandler(pauseSignal, (input) => r.fromSignal(signalled('pause', input)));
  setHandler(resumeSignal, (input) => r.fromSignal(signalled('resume', input)));
  setHandler(promoteSignal, (input) => r.fromSignal(signalled('promote', input)));
  // An abort always goes through: stopping a canary must not depend on typing the payload right.
  setHandler(abortSignal, (input) => r.fromSignal(lenientAbort(input)));
  // An extend without a valid duration has no meaning to default to: it is logged and ignored.
  setHandler(extendSignal, (input) => {
    const checked = commandOf('extend', input);
    if (checked.ok) r.fromSignal(checked.value);
    else log.warn(`ignored extend signal: ${checked.problem}`);
  });
  setHandler(dismissSignal, (input) => r.fromSignal(signalled('dismiss', input)));
  setHandler(approveSignal, (input) => r.fromSignal(signalled('approve', input)));
  setHandler(statusQuery, () => r.status());
}

/** The input as the validator accepted it. */
function accepted(kind: Command['kind'], input: unknown): Command {
  const checked = commandOf(kind, input);
  if (!checked.ok) throw ApplicationFailure.nonRetryable(checked.problem);
  return checked.value;
}

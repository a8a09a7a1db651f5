// Rollout events as the worker's terminal shows them: one line per decision of a rollout (started,
// stage in place, paused, rolled back and why, promoted, aborted...), for every plan, whether or not
// it has a notify target.
//
// The workflow logs each new decision through the SDK's workflow logger with the decision under
// ROLLOUT_EVENT_KEY (workflows/rollout.ts). A log call is not a command, so saved histories replay
// unchanged, and the SDK skips it while replaying, so a worker restart does not print old events
// again. `dev` and `worker` install a logger that turns these entries into lines (src/cli/sdk-log.ts);
// any other worker sees them as ordinary INFO entries with structured attributes.
import { z } from 'zod';
import { plainReason } from '../ui/plain';
import { printable } from '../text/sanitize';
import { ROLLOUT_EVENT_KEY, SYSTEM_ACTOR } from '../contract/names';
import { DecisionSchema } from './status-schema';

/** The attribute of the workflow's log entry that carries the event. */
export { ROLLOUT_EVENT_KEY };

/**
 * One decision of a rollout (the ledger's own schema) with what a line needs to stand alone.
 * Bounded: it comes through a log.
 */
export const RolloutEventSchema = DecisionSchema.extend({
  agent: z.string().max(200),
  stable: z.string().max(200),
  canary: z.string().max(200),
  stageCount: z.number().int().min(1).max(1_000),
  workflowId: z.string().max(400),
});
export type RolloutEvent = z.infer<typeof RolloutEventSchema>;

/** Who decided, unless it was the rollout itself. */
function byWhom(e: RolloutEvent): string {
  return e.by && e.by !== SYSTEM_ACTOR ? ` by ${printable(e.by, 60)}` : '';
}

/** What happened, in the words the dashboard and `status` use. */
function what(e: RolloutEvent): string {
  const why = e.reason ? `: ${printable(plainReason(e.reason), 300)}` : '';
  const stage = `stage ${e.stageIndex + 1} of ${e.stageCount}`;
  switch (e.action) {
    case 'started':
      return e.reason === 'rollout started' ? `started, ${e.stageCount} stages` : `started${byWhom(e)}${why}`;
    case 'stage_started':
      return `${stage}: canary at ${e.percent}%${byWhom(e) ? `${byWhom(e)}${why}` : ''}`;
    case 'paused':
      return `paused${byWhom(e)} at ${e.percent}% (checks and rollback go on)${why}`;
    case 'resumed':
      return `resumed${byWhom(e)}${why}`;
    case 'promoted_stage':
      return `${stage} promoted${byWhom(e)}${why}`;
    case 'promoted':
      return `PROMOTED: ${e.canary} is the stable now${byWhom(e)}`;
    case 'rolled_back':
      return `ROLLED BACK, all traffic on ${e.stable}${byWhom(e)}${why}`;
    case 'aborted':
      return `aborted${byWhom(e)}, all traffic on ${e.stable}${why}`;
    case 'inconclusive_streak':
      return `paused at ${e.percent}%, too little data to decide (needs a person)${why}`;
    case 'check_failed':
      // The reason starts "check failed (1/2): ...": said once.
      return `check failed at ${e.percent}% ${printable(plainReason(e.reason).replace(/^check failed\s*/, ''), 300)}`;
    case 'paused_on_fail':
      return `paused on a failed check at ${e.percent}%, waits for dismiss, promote or abort${why}`;
    case 'extended':
      return `${stage} extended${byWhom(e)}${why}`;
    case 'dismissed':
      return `failed checks dismissed${byWhom(e)}${why}`;
    case 'awaiting_approval':
      return `${stage} waits for approval (agent-canary approve ${printable(e.agent, 100)})${why}`;
    case 'approved':
      return `approved${byWhom(e)}${why}`;
    case 'hook_failed':
      return `hook failed${why}`;
  }
}

/**
 * "2026-12-05 12:03:04 support-bot v1 -> v2: ROLLED BACK, all traffic on v1: error_rate: ..."
 * One line, control characters escaped (a reason can quote an operator or an upstream).
 * `page`: a link to append to the first line of a rollout (the dashboard in `dev`).
 */
export function rolloutEventLine(e: RolloutEvent, page?: (workflowId: string) => string | undefined): string {
  const when = e.at.replace('T', ' ').slice(0, 19);
  const who = `${printable(e.agent, 100)} ${printable(e.stable, 60)} -> ${printable(e.canary, 60)}`;
  const link = e.action === 'started' ? page?.(e.workflowId) : undefined;
  return `${when} ${who}: ${what(e)}${link ? ` (${link})` : ''}`;
}

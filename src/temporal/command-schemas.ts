// The zod schemas of the rollout's command inputs, for clients (CLI, dashboard, library): a command is
// checked and its message names the field before it is sent. The workflow checks the same shapes with
// plain guards (workflows/guards.ts) so that zod stays out of its sandbox; the types are the
// contract's (src/contract/types.ts) and the checks below keep the two in step.
import { z } from 'zod';
import {
  MAX_BY_CHARS,
  MAX_OBSERVE_MS,
  MAX_REASON_CHARS,
  type AbortInput,
  type ApproveInput,
  type DismissInput,
  type ExtendInput,
  type PauseInput,
  type PromoteInput,
  type ResumeInput,
} from '../contract';
import { durationSchema } from '../plan/schema';

const By = z.string().max(MAX_BY_CHARS).optional();
const Reason = z.string().max(MAX_REASON_CHARS).optional();

export const PauseInputSchema = z.object({ reason: Reason, by: By }).strict();
export const ResumeInputSchema = z.object({ reason: Reason, by: By }).strict();
export const PromoteInputSchema = z.object({ full: z.boolean().optional(), reason: Reason, by: By }).strict();
export const AbortInputSchema = z
  .object({ reason: z.string().min(1, 'an abort needs a reason').max(MAX_REASON_CHARS), by: By })
  .strict();
/**
 * More observation for the current stage: `duration` as written ("30m", "1h") or ms. Bounded here by
 * the longest stage window; the workflow also refuses an extension that would run past the plan's
 * progress deadline.
 */
export const ExtendInputSchema = z
  .object({ duration: durationSchema(MAX_OBSERVE_MS, 1_000), reason: Reason, by: By })
  .strict();
/** Clears the failed checks (and a pause on failure) of the current stage; judging starts afresh. */
export const DismissInputSchema = z.object({ reason: Reason, by: By }).strict();
/** Lets the current stage's approval gate open (`approval: true` in the plan), recorded with who. */
export const ApproveInputSchema = z.object({ reason: Reason, by: By }).strict();

// Both ways: a field added to a contract type or a schema fails the typecheck until the other follows.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _inSteps: [
  Same<z.infer<typeof PauseInputSchema>, PauseInput>,
  Same<z.infer<typeof ResumeInputSchema>, ResumeInput>,
  Same<z.infer<typeof PromoteInputSchema>, PromoteInput>,
  Same<z.infer<typeof AbortInputSchema>, AbortInput>,
  Same<z.infer<typeof ExtendInputSchema>, ExtendInput>,
  Same<z.infer<typeof DismissInputSchema>, DismissInput>,
  Same<z.infer<typeof ApproveInputSchema>, ApproveInput>,
] = [true, true, true, true, true, true, true];
void _inSteps;

// The bodies the ingest routes accept (outcomes, feedback), each field bounded and named in errors.
import { z } from 'zod';
import { QUALITY_LIMIT } from '../histogram';
import { REQUEST_ID } from '../proxy';
import { problemsFromZod } from '../../text/zod-problems';

/** Bounded so a sum of them can never overflow (1e308 * 1000 was Infinity, then null in JSON). */
const QualityScore = z
  .number({ error: 'must be a number' })
  .min(-QUALITY_LIMIT, `must be between -${QUALITY_LIMIT} and ${QUALITY_LIMIT}`)
  .max(QUALITY_LIMIT, `must be between -${QUALITY_LIMIT} and ${QUALITY_LIMIT}`);
const RequestId = z
  .string({ error: 'must be a string' })
  .regex(REQUEST_ID, 'must be 1-128 of A-Z a-z 0-9 . _ : -');

export const FeedbackSchema = z
  .object({
    requestId: RequestId,
    taskSuccess: z.boolean({ error: 'must be true or false' }).optional(),
    qualityScore: QualityScore.optional(),
  })
  .refine((f) => f.taskSuccess !== undefined || f.qualityScore !== undefined, {
    message: 'give taskSuccess or qualityScore (or both)',
  });

export const OutcomeSchema = z.object({
  version: z
    .string({ error: 'must be a string' })
    .min(1, 'must not be empty')
    .max(128, 'must be at most 128 characters'),
  /** Lets later POST /v1/feedback calls join this request. */
  requestId: RequestId.optional(),
  latencyMs: z
    .number({ error: 'must be a number' })
    .nonnegative()
    .max(86_400_000, 'must be at most 86400000 (a day)')
    .optional(),
  error: z.boolean({ error: 'must be true or false' }).default(false),
  taskSuccess: z.boolean({ error: 'must be true or false' }).optional(),
  qualityScore: QualityScore.optional(),
});
// One schema per shape (not a union), so an error names the field instead of "(body): Invalid input".
export const OutcomeListSchema = z.array(OutcomeSchema).min(1).max(1000, 'at most 1000 outcomes per request');

export function zodReason(err: z.ZodError): string {
  return problemsFromZod(err, '(body)')
    .slice(0, 10)
    .map((p) => `${p.field}: ${p.message}`)
    .join('; ');
}

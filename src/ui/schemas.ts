// Every input the dashboard's HTTP API takes, as zod schemas: path parameters, query strings and
// command bodies. Bad input is a 400 naming the field, before anything reaches Temporal.
import { z } from 'zod';
import { COMMANDS } from '../temporal/rollouts';
import { problemsFromZod, type FieldProblem } from '../text/zod-problems';

export const WorkflowIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'at most 255 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits and . _ : - only');

export const RunIdSchema = z
  .string()
  .max(64, 'at most 64 characters')
  .regex(/^[0-9a-fA-F-]+$/, 'a run id is hexadecimal with dashes');

export const CommandNameSchema = z.enum(COMMANDS);

export const DetailQuerySchema = z.object({ runId: RunIdSchema.optional() }).strict();

export const ListQuerySchema = z
  .object({ limit: z.coerce.number().int().min(1).max(1000).optional() })
  .strict();

/**
 * The body of a command from the page. The per-command rules (abort needs a reason) are the
 * workflow contract's own schemas, applied by sendCommand; this one bounds the shape first.
 */
export const CommandBodySchema = z
  .object({
    by: z.string().trim().min(1, 'say who acts').max(200, 'at most 200 characters').optional(),
    reason: z.string().trim().max(2000, 'at most 2000 characters').optional(),
    full: z.boolean().optional(),
    /** extend: more observation, as written ("30m") or ms; checked by the command's own schema. */
    duration: z.union([z.string().max(40), z.number()]).optional(),
  })
  .strict();
export type CommandBody = z.infer<typeof CommandBodySchema>;

/** Field -> message, for the page to show beside the field. */
export function fieldProblems(error: z.ZodError): FieldProblem[] {
  return problemsFromZod(error, '(input)');
}

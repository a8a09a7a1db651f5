// A zod error as the problems people read: each issue naming its field by its dotted path. The one
// place that walks `error.issues`; callers choose only how the problems are laid out.
import type { z } from 'zod';

export interface FieldProblem {
  /** Dotted path of the field ("stages.0.weight"); `whole` when the issue is about the input itself. */
  field: string;
  message: string;
}

/** Every issue of a zod error, in order, each naming its field. */
export function problemsFromZod(error: z.ZodError, whole = ''): FieldProblem[] {
  return error.issues.map((i) => ({ field: i.path.map(String).join('.') || whole, message: i.message }));
}

/** One "  - field: message" line per problem: the form of config loaders and the CLI. */
export function problemLines(problems: FieldProblem[]): string {
  return problems.map((p) => `  - ${p.field ? `${p.field}: ` : ''}${p.message}`).join('\n');
}

/** The problems on one line, "field: message; field: message" (for a flag or an option). */
export function describeZodError(error: z.ZodError, whole = ''): string {
  return problemsFromZod(error, whole)
    .map((p) => (p.field ? `${p.field}: ${p.message}` : p.message))
    .join('; ');
}

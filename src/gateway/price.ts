// Prices per million tokens, per version or per model (gateway config), and the cost of one answer.
import { z } from 'zod';
import type { Usage } from './usage';

const PerMTok = z.number().nonnegative().max(1_000_000, 'must be at most 1,000,000 per million tokens');

/** `price: { inputPerMTok, outputPerMTok, cachedInputPerMTok? }`, in the team's currency. */
export const PriceSchema = z
  .object({
    inputPerMTok: PerMTok,
    outputPerMTok: PerMTok,
    /** Cached input tokens (prompt cache reads); the input price when absent. */
    cachedInputPerMTok: PerMTok.optional(),
  })
  .strict();
export type Price = z.infer<typeof PriceSchema>;

/** Cost of one answer, or undefined when it did not say its tokens. */
export function costOf(u: Usage, p: Price): number | undefined {
  if (u.inputTokens === undefined || u.outputTokens === undefined) return undefined;
  const cached = u.cachedInputTokens ?? 0;
  const cachedPrice = p.cachedInputPerMTok ?? p.inputPerMTok;
  return (
    ((u.inputTokens - cached) * p.inputPerMTok + cached * cachedPrice + u.outputTokens * p.outputPerMTok) /
    1_000_000
  );
}

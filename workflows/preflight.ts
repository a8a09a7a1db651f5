// canaryPreflight: runs the preflight activity on a worker, so the checks use that worker's own
// backends and credentials (the CLI that starts a rollout may have neither). One activity, one try.
import { proxyActivities } from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities';

export const PREFLIGHT_WORKFLOW_TYPE = 'canaryPreflight';

const PreflightInputSchema = z
  .object({
    agent: z.string().min(1).max(100),
    stable: z.string().min(1).max(128),
    canary: z.string().min(1).max(128),
    metrics: z.array(z.string().max(64)).max(20).optional(),
    /** The plan has a shadow stage: the router must mirror for this agent (docs/shadow.md). */
    shadow: z.literal(true).optional(),
  })
  .strict();

const { preflight } = proxyActivities<Activities>({
  startToCloseTimeout: '25s',
  retry: { maximumAttempts: 1 },
  summary: 'preflight: router, versions, upstreams, metrics',
});

export async function canaryPreflight(input: unknown): Promise<{ problems: string[] }> {
  const parsed = PreflightInputSchema.safeParse(input);
  if (!parsed.success)
    return { problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
  return { problems: await preflight(parsed.data) };
}

// canaryPreflight: runs the preflight activity on a worker, so the checks use that worker's own
// backends and credentials (the CLI that starts a rollout may have neither). One activity, one try.
// The input is checked by the activity (activities/plan.ts): no zod in the workflow sandbox.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities, PreflightInput } from '../activities';
export { PREFLIGHT_WORKFLOW_TYPE } from '../src/contract/names';

const { preflight } = proxyActivities<Activities>({
  startToCloseTimeout: '25s',
  retry: { maximumAttempts: 1 },
  summary: 'preflight: router, versions, upstreams, metrics',
});

export async function canaryPreflight(input: unknown): Promise<{ problems: string[] }> {
  return { problems: await preflight(input as PreflightInput) };
}

// How a rollout ends in Temporal's own terms, so the Web UI's workflow list tells outcomes apart by
// its Status column (docs/web-ui.md). Temporal closes an execution as Canceled only after a cancel
// request, and refuses one a workflow sends to itself ("not found"): an aborted rollout asks through
// this activity, once its traffic is back on stable.
import { Context } from '@temporalio/activity';

/** The reason recorded on the cancel request, where the Web UI's history shows it. */
export const OWN_CANCEL_REASON = 'agent-canary: the rollout was aborted; it closes as Canceled';

export function endingActivities() {
  return {
    async requestOwnCancellation(): Promise<void> {
      const ctx = Context.current();
      const { workflowExecution, workflowNamespace } = ctx.info;
      if (!workflowExecution) throw new Error('requestOwnCancellation runs for a workflow only');
      await ctx.client.workflowService.requestCancelWorkflowExecution({
        namespace: workflowNamespace,
        workflowExecution,
        identity: 'agent-canary worker',
        // One request per run however often the activity is retried.
        requestId: `own-cancel-${workflowExecution.runId}`,
        reason: OWN_CANCEL_REASON,
      });
    },
  };
}

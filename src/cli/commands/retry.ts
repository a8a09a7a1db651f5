import type { Command } from 'commander';
import { retryRollout } from '../../temporal/rollouts';
import { defaultBy, parseAgent, printJson, withClient } from '../context';

export function register(program: Command): void {
  program
    .command('retry')
    .description('start a rolled-back or aborted rollout again from its plan (same workflow id)')
    .argument('<agent>', 'agent name')
    .option('--reason <text>', 'why, recorded as the new run’s first decision')
    .option('--by <name>', 'who acts (default: your OS user)', defaultBy())
    .option('--json', 'machine-readable output')
    .action(async (agentArg: string, o: { reason?: string; by: string; json?: boolean }, cmd: Command) => {
      const agent = parseAgent(agentArg);
      await withClient(cmd, async ({ client }) => {
        const r = await retryRollout(client, agent, { by: o.by, reason: o.reason });
        if (o.json) {
          printJson({ workflowId: r.workflowId, runId: r.runId, previousRunId: r.previousRunId });
          return;
        }
        process.stdout.write(
          `retrying ${agent}: ${r.plan.stable} -> ${r.plan.canary} started again as run ${r.runId} ` +
            `(previous run ${r.previousRunId})\n  Follow it: agent-canary status ${agent} --watch\n`,
        );
      });
    });
}

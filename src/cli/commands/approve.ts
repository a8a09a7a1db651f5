import type { Command } from 'commander';
import { act } from '../act';
import { defaultBy } from '../context';

export function register(program: Command): void {
  program
    .command('approve')
    .description(
      "open the current stage's approval gate (approval: true in the plan); the stage moves on once its window is healthy",
    )
    .argument('<agent>', 'agent name')
    .option('--reason <text>', 'why, recorded with the decision')
    .option('--by <name>', 'who approves (default: your OS user)', defaultBy())
    .option('--json', 'machine-readable output')
    .action((agent: string, o: { reason?: string; by: string; json?: boolean }, cmd: Command) =>
      act(cmd, agent, 'approve', { reason: o.reason, by: o.by }, o.json ?? false),
    );
}

import type { Command } from 'commander';
import { act } from '../act';
import { defaultBy } from '../context';

export function register(program: Command): void {
  program
    .command('abort')
    .description('end the rollout now: stable back to 100%')
    .argument('<agent>', 'agent name')
    .requiredOption('--reason <text>', 'why (required), recorded and sent to the notifiers')
    .option('--by <name>', 'who acts (default: your OS user)', defaultBy())
    .option('--json', 'machine-readable output')
    .action((agent: string, o: { reason: string; by: string; json?: boolean }, cmd: Command) =>
      act(cmd, agent, 'abort', { reason: o.reason, by: o.by }, o.json ?? false),
    );
}

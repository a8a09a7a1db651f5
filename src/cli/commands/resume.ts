import type { Command } from 'commander';
import { act } from '../act';
import { defaultBy } from '../context';

export function register(program: Command): void {
  program
    .command('resume')
    .description('restart the observation clock of a paused rollout')
    .argument('<agent>', 'agent name')
    .option('--reason <text>', 'why, recorded with the decision')
    .option('--by <name>', 'who acts (default: your OS user)', defaultBy())
    .option('--json', 'machine-readable output')
    .action((agent: string, o: { reason?: string; by: string; json?: boolean }, cmd: Command) =>
      act(cmd, agent, 'resume', { reason: o.reason, by: o.by }, o.json ?? false),
    );
}

import type { Command } from 'commander';
import { act } from '../act';
import { defaultBy } from '../context';

export function register(program: Command): void {
  program
    .command('pause')
    .description('stop the observation clock (health checks and rollback keep running)')
    .argument('<agent>', 'agent name')
    .option('--reason <text>', 'why, recorded with the decision')
    .option('--by <name>', 'who acts (default: your OS user)', defaultBy())
    .option('--json', 'machine-readable output')
    .action((agent: string, o: { reason?: string; by: string; json?: boolean }, cmd: Command) =>
      act(cmd, agent, 'pause', { reason: o.reason, by: o.by }, o.json ?? false),
    );
}

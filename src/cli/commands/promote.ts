import type { Command } from 'commander';
import { act } from '../act';
import { defaultBy } from '../context';

export function register(program: Command): void {
  program
    .command('promote')
    .description('go to the next stage now, or with --full straight to 100%')
    .argument('<agent>', 'agent name')
    .option('--full', 'promote to 100% at once')
    .option('--reason <text>', 'why, recorded with the decision')
    .option('--by <name>', 'who acts (default: your OS user)', defaultBy())
    .option('--json', 'machine-readable output')
    .action(
      (agent: string, o: { full?: boolean; reason?: string; by: string; json?: boolean }, cmd: Command) =>
        act(cmd, agent, 'promote', { full: o.full ?? false, reason: o.reason, by: o.by }, o.json ?? false),
    );
}

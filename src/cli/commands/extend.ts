import type { Command } from 'commander';
import { act } from '../act';
import { defaultBy } from '../context';

export function register(program: Command): void {
  program
    .command('extend')
    .description('observe the current stage longer before it advances (bounded by the progress deadline)')
    .argument('<agent>', 'agent name')
    .requiredOption('--by <duration>', 'how much longer, e.g. 30m, 1h (required)')
    .option('--reason <text>', 'why, recorded with the decision')
    .option('--actor <name>', 'who acts (default: your OS user)', defaultBy())
    .option('--json', 'machine-readable output')
    .action(
      (agent: string, o: { by: string; reason?: string; actor: string; json?: boolean }, cmd: Command) =>
        act(cmd, agent, 'extend', { duration: o.by, reason: o.reason, by: o.actor }, o.json ?? false),
    );
}

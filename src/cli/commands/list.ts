import { InvalidArgumentError, Option, type Command } from 'commander';
import { ROLLOUT_STATE_NAMES as ROLLOUT_STATES } from '../../temporal/names';
import type { RolloutState } from '../../../workflows/messages';
import { connectionSettings, parseAgent, printJson } from '../context';
import { listRows } from '../fast-path';
import { renderList } from '../render';

interface ListOpts {
  state?: RolloutState;
  agent?: string;
  running?: boolean;
  limit: number;
  codeVersionBelow?: number;
  json?: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number.');
  return n;
}

export function register(program: Command): void {
  program
    .command('list')
    .description('list rollouts, newest first (from Temporal visibility)')
    .addOption(new Option('--state <state>', 'only rollouts in this state').choices(ROLLOUT_STATES))
    .option('--agent <agent>', 'only rollouts of this agent')
    .option('--running', 'only rollouts whose workflow is still running')
    .option('--limit <n>', 'at most this many', positiveInt, 50)
    .option(
      '--code-version-below <n>',
      'only rollouts started on an older code version (or none recorded): what a release that retires it would strand (docs/versions.md)',
      positiveInt,
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: ListOpts, cmd: Command) => {
      const agent = opts.agent ? parseAgent(opts.agent) : undefined;
      const rows = await listRows(connectionSettings(cmd), {
        state: opts.state,
        agent,
        running: opts.running,
        limit: opts.limit,
        ...(opts.codeVersionBelow !== undefined ? { codeVersionBelow: opts.codeVersionBelow } : {}),
      });
      if (opts.json) printJson(rows);
      else process.stdout.write(`${renderList(rows)}\n`);
    });
}

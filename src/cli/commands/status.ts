import type { Command } from 'commander';
import { hasEnded } from '../../temporal/status-parts';
import type { RolloutStatus } from '../../../workflows/messages';
import { connectionSettings, parseAgent, printJson } from '../context';
import { FailedError } from '../errors';
import { renderStatus } from '../render';
import { openStatusSource } from '../fast-path';

interface StatusOpts {
  watch?: boolean;
  json?: boolean;
  verbose?: boolean;
  interval: string;
}

export function register(program: Command): void {
  program
    .command('status')
    .description('show a rollout: stage, time left, last verdict per metric, recent decisions')
    .argument('<agent>', 'agent name')
    .option('-w, --watch', 'redraw until the rollout ends (with --json: one JSON line per refresh)')
    .option('--interval <seconds>', 'refresh period for --watch', '2')
    .option('--json', 'machine-readable output')
    .option('-v, --verbose', 'the statistics behind each metric verdict (likelihood ratios, counts)')
    .action(async (agentArg: string, opts: StatusOpts, cmd: Command) => {
      const agent = parseAgent(agentArg);
      const every = Number(opts.interval);
      if (!Number.isFinite(every) || every <= 0) {
        cmd.error(`error: --interval must be a positive number of seconds, got "${opts.interval}"`, {
          exitCode: 2,
        });
      }
      const source = openStatusSource(connectionSettings(cmd));
      try {
        if (!opts.watch) {
          const s = await source.get(agent);
          if (opts.json) printJson(s);
          else process.stdout.write(`${renderStatus(s, { verbose: opts.verbose })}\n`);
          failIfClosedAbnormally(s);
          return;
        }
        failIfClosedAbnormally(await watch(() => source.get(agent), every * 1000, opts.json ?? false));
      } finally {
        await source.close();
      }
    });
}

/** Terminated, failed, timed out, cancelled: the exit code says so (the output said why). */
function failIfClosedAbnormally(s: RolloutStatus | null): void {
  if (s?.execution) {
    throw new FailedError(
      `${s.agent}: ${s.execution.status}${s.execution.cause ? `: ${s.execution.cause}` : ''}`,
    );
  }
}

async function watch(
  query: () => Promise<RolloutStatus>,
  periodMs: number,
  json: boolean,
): Promise<RolloutStatus | null> {
  const tty = process.stdout.isTTY && !json;
  // Ctrl-C ends the view at once (the rollout itself goes on), without waiting for the next refresh.
  let wake: () => void = () => undefined;
  let stopped = false;
  const onSigint = () => {
    stopped = true;
    wake();
  };
  process.once('SIGINT', onSigint);
  try {
    let s = await query();
    for (;;) {
      if (json) {
        process.stdout.write(`${JSON.stringify(s)}\n`);
      } else {
        const frame = renderStatus(s, { now: Date.now() });
        // Redraw in place on a terminal; append frames when piped.
        process.stdout.write(tty ? `\x1b[H\x1b[2J${frame}\n` : `${frame}\n\n`);
      }
      if (hasEnded(s)) return s;
      if (stopped) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, periodMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (stopped) return null;
      s = await query();
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

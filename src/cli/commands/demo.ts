import type { Command } from 'commander';
import { parseDuration } from '../../plan/duration';
import { REGRESSIONS, describeRegression, isRegression } from '../../demo/profiles';
import { describeWindows, runDemo } from '../../demo/run';
import { FailedError, UsageError } from '../errors';

interface DemoOpts {
  regression: string;
  observe: string;
  interval: string;
  rps: string;
  stream?: boolean;
  keepRunning?: boolean;
  headless?: boolean;
  ui: boolean;
  dashboard: boolean;
  json?: boolean;
  seed?: string;
}

function duration(flag: string, value: string): number {
  try {
    const ms = parseDuration(value);
    if (ms > 0) return ms;
  } catch {
    // reported below with the flag's name
  }
  throw new UsageError(`${flag} must be a positive duration like 20s or 2m, got "${value}"`);
}

function positive(flag: string, value: string, max: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > max) {
    throw new UsageError(`${flag} must be a number above 0 and at most ${max}, got "${value}"`);
  }
  return n;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'run the embedded stack with simulated agents and traffic: one canary promoted, one rolled back',
    )
    .option(
      '--regression <kind>',
      `what is wrong with the bad canary: ${REGRESSIONS.map((r) => `${r} (${describeRegression(r)})`).join('; ')}`,
      'errors',
    )
    .option('--observe <duration>', 'observation window of each canary stage', '20s')
    .option('--interval <duration>', 'check period inside a window', '2s')
    .option('--rps <n>', 'requests per second to each agent', '30')
    .option('--stream', 'agents answer as SSE token streams through the gateway')
    .option('--keep-running', 'leave the stack (and the Web UI) up after both rollouts ended, until Ctrl-C')
    .option('--headless', 'plain progress lines, no colours or live footer (the default when not a terminal)')
    .option('--no-ui', 'do not start the Temporal Web UI')
    .option('--no-dashboard', 'do not serve the rollout dashboard')
    .option('--json', 'end with the result as one JSON line (for scripts)')
    .option('--seed <n>', 'seed of the simulated agents and traffic', '1')
    .action(async (opts: DemoOpts) => {
      if (!isRegression(opts.regression)) {
        throw new UsageError(
          `--regression must be one of ${REGRESSIONS.join(', ')}, got "${opts.regression}"`,
        );
      }
      const observeMs = duration('--observe', opts.observe);
      const intervalMs = duration('--interval', opts.interval);
      if (intervalMs > observeMs) {
        throw new UsageError(
          `--interval (${opts.interval}) must not be longer than --observe (${opts.observe})`,
        );
      }
      const rps = positive('--rps', opts.rps, 500);
      const seed = Math.trunc(positive('--seed', opts.seed ?? '1', 2 ** 31));

      const controller = new AbortController();
      let interrupts = 0;
      const onSigint = () => {
        interrupts += 1;
        if (interrupts > 1) process.exit(130);
        process.stderr.write('\nstopping the demo (Ctrl-C again to quit at once)...\n');
        controller.abort();
      };
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigint);
      const tty = !opts.headless && Boolean(process.stdout.isTTY);
      process.stdout.write(
        `agent-canary demo: ${describeWindows({ observeMs, intervalMs })}, ${rps} requests/s per agent\n`,
      );
      try {
        const result = await runDemo({
          regression: opts.regression,
          observeMs,
          intervalMs,
          rps,
          stream: opts.stream ?? false,
          seed,
          keepRunning: opts.keepRunning ?? false,
          tty,
          ui: opts.ui,
          dashboardPort: opts.dashboard ? 0 : null,
          write: (text) => process.stdout.write(text),
          signal: controller.signal,
        });
        if (opts.json) process.stdout.write(`demo result: ${JSON.stringify(result)}\n`);
        if (controller.signal.aborted && !opts.keepRunning) throw new FailedError('demo interrupted');
        if (!result.ok) throw new FailedError('demo failed: a rollout did not end as expected (see above)');
      } finally {
        process.removeListener('SIGINT', onSigint);
        process.removeListener('SIGTERM', onSigint);
      }
    });
}

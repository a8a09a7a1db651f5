import type { Command } from 'commander';
import { redact } from '../../notify/deliver';
import type { ResolvedPlan } from '../../plan';
import { forecast, renderForecast } from '../../analysis/forecast';
import { printJson } from '../context';
import { readPlan } from '../plan-file';
import { FailedError } from '../errors';
import { positiveNumber, renderSchedule, scheduleOf, shortWindowWarnings } from '../schedule';

export function register(program: Command): void {
  program
    .command('validate')
    .description('check a plan file and print its predicted schedule (exit 2 when invalid)')
    .requiredOption('-f, --file <plan>', 'plan file, YAML or JSON ("-" for stdin)')
    .option('--rps <n>', "the agent's traffic in requests/s, to predict detection times", positiveNumber)
    .option('--strict', 'exit 1 when a stage cannot decide within its window at --rps')
    .option('--json', 'machine-readable output')
    .action((opts: { file: string; json?: boolean; rps?: number; strict?: boolean }) => {
      // An invalid plan throws PlanError: main prints each problem with its field and exits 2.
      const plan = readPlan(opts.file);
      const f = planForecast(plan, opts.rps);
      if (opts.json) {
        printJson({
          valid: true,
          plan: withoutSecrets(plan),
          schedule: scheduleOf(plan, opts.rps),
          warnings: shortWindowWarnings(plan),
          ...(f ? { forecast: f } : {}),
        });
      } else {
        const more = f ? `${renderForecast(f).join('\n')}\n` : '';
        process.stdout.write(`${opts.file}: valid\n\n${renderSchedule(plan, opts.rps)}\n${more}`);
      }
      if (opts.strict) strictCheck(f);
    });
}

/** CI logs keep validate's output: webhook secrets and Slack URLs (whose path is the secret) stay out. */
function withoutSecrets(plan: ResolvedPlan): ResolvedPlan {
  return {
    ...plan,
    notify: plan.notify.map((n) => {
      if (n.type === 'webhook') return n.secret ? { ...n, secret: '***' } : n;
      if (n.type === 'slack') return n.webhookUrl ? { ...n, webhookUrl: redact(n.webhookUrl) } : n;
      return n;
    }),
  };
}

/** The statistical judge's per-stage forecast at the agent's traffic, when it is given. */
export function planForecast(plan: ResolvedPlan, rps: number | undefined) {
  return rps !== undefined && plan.analysis.judge === 'statistical' ? forecast(plan, rps) : undefined;
}

/** --strict: a stage that cannot decide in its window at the given traffic is a failure. */
export function strictCheck(f: ReturnType<typeof planForecast>): void {
  if (f && f.warnings.length > 0) {
    throw new FailedError(
      `--strict: ${f.warnings.length} warning${f.warnings.length === 1 ? '' : 's'} at ${f.requestsPerSecond} requests/s (see above)`,
    );
  }
}

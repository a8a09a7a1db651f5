import type { Command } from 'commander';
import { redact } from '../../notify/deliver';
import type { ResolvedPlan } from '../../plan';
import { readPlan, printJson } from '../context';
import { positiveNumber, renderSchedule, scheduleOf } from '../schedule';

export function register(program: Command): void {
  program
    .command('validate')
    .description('check a plan file and print its predicted schedule (exit 2 when invalid)')
    .requiredOption('-f, --file <plan>', 'plan file, YAML or JSON ("-" for stdin)')
    .option('--rps <n>', "the agent's traffic in requests/s, to predict detection times", positiveNumber)
    .option('--json', 'machine-readable output')
    .action((opts: { file: string; json?: boolean; rps?: number }) => {
      // An invalid plan throws PlanError: main prints each problem with its field and exits 2.
      const plan = readPlan(opts.file);
      if (opts.json) {
        printJson({ valid: true, plan: withoutSecrets(plan), schedule: scheduleOf(plan, opts.rps) });
      } else {
        process.stdout.write(`${opts.file}: valid\n\n${renderSchedule(plan, opts.rps)}\n`);
      }
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

import type { Command } from 'commander';
import { redact } from '../../notify/deliver';
import type { ResolvedPlan } from '../../plan';
import { forecast, renderForecast, type EvaluatedRate } from '../../analysis/forecast';
import { GatewayConfigError, loadGatewayConfig } from '../../gateway/config';
import { printJson } from '../context';
import { readPlan } from '../plan-file';
import { FailedError, UsageError } from '../errors';
import { positiveNumber, renderSchedule, scheduleOf, shortWindowWarnings } from '../schedule';

interface ValidateOpts {
  file: string;
  json?: boolean;
  rps?: number;
  strict?: boolean;
  gatewayConfig?: string;
}

export function register(program: Command): void {
  program
    .command('validate')
    .description('check a plan file and print its predicted schedule (exit 2 when invalid)')
    .requiredOption('-f, --file <plan>', 'plan file, YAML or JSON ("-" for stdin)')
    .option('--rps <n>', "the agent's traffic in requests/s, to predict detection times", positiveNumber)
    .option('--strict', 'exit 1 when a stage cannot decide within its window at --rps')
    .option(
      '--gateway-config <file>',
      "the gateway config: the agent's evaluate block (sample, budget) sets how fast quality_score and task_success_rate accrue",
    )
    .option('--json', 'machine-readable output')
    .action((opts: ValidateOpts) => {
      // An invalid plan throws PlanError: main prints each problem with its field and exits 2.
      const plan = readPlan(opts.file);
      const f = planForecast(plan, opts.rps, evaluatedRate(plan, opts.gatewayConfig));
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
export function planForecast(plan: ResolvedPlan, rps: number | undefined, evaluated?: EvaluatedRate) {
  return rps !== undefined && plan.analysis.judge === 'statistical'
    ? forecast(plan, rps, {}, evaluated)
    : undefined;
}

/** An evaluator call's tokens when nobody says: a short exchange, the rubric and the verdict. */
const TOKENS_PER_CALL = 1000;

/** The agent's evaluator from a gateway config file (its config errors exit 2 like the plan's). */
function evaluatedRate(plan: ResolvedPlan, file: string | undefined): EvaluatedRate | undefined {
  if (!file) return undefined;
  let evaluate;
  try {
    evaluate = loadGatewayConfig(file).agents.get(plan.agent)?.evaluate;
  } catch (err) {
    if (err instanceof GatewayConfigError) throw new UsageError(err.message);
    throw err;
  }
  return evaluate
    ? {
        sample: evaluate.sample,
        maxPerMinute: evaluate.maxPerMinute,
        maxTokensPerDay: evaluate.maxTokensPerDay,
        tokensPerCall: TOKENS_PER_CALL,
      }
    : undefined;
}

/** --strict: a stage that cannot decide in its window at the given traffic is a failure. */
export function strictCheck(f: ReturnType<typeof planForecast>): void {
  if (f && f.warnings.length > 0) {
    throw new FailedError(
      `--strict: ${f.warnings.length} warning${f.warnings.length === 1 ? '' : 's'} at ${f.requestsPerSecond} requests/s (see above)`,
    );
  }
}

import type { Command } from 'commander';
import { rolloutUrl } from '../../notify/format';
import { WorkflowFailedError } from '@temporalio/client';
import {
  getStatus,
  hasEnded,
  innermostMessage,
  preflightRollout,
  startRollout,
} from '../../temporal/rollouts';
import type { RolloutResult, RolloutStatus } from '../../../workflows/messages';
import { printJson, uiUrl, withClient } from '../context';
import { readPlan } from '../plan-file';
import { FailedError } from '../errors';
import { positiveNumber, renderSchedule, scheduleOf } from '../schedule';
import { renderForecast } from '../../analysis/forecast';
import { planForecast, strictCheck } from './validate';
import { rolloutEventLine } from '../../temporal/rollout-events';

interface StartOpts {
  file: string;
  wait?: boolean;
  json?: boolean;
  rps?: number;
  strict?: boolean;
  preflight: boolean;
}

export function register(program: Command): void {
  program
    .command('start')
    .description('start a rollout from a plan file')
    .requiredOption('-f, --file <plan>', 'plan file, YAML or JSON ("-" for stdin)')
    .option('--wait', 'follow the rollout until it ends; exit 1 unless it is promoted')
    .option('--rps <n>', "the agent's traffic in requests/s, to predict detection times", positiveNumber)
    .option('--strict', 'do not start when a stage cannot decide within its window at --rps')
    .option('--json', 'machine-readable output')
    .option(
      '--no-preflight',
      'skip the checks of router, versions, upstreams and metrics (a rollout they would refuse fails to start anyway)',
    )
    .action(async (opts: StartOpts, cmd: Command) => {
      const plan = readPlan(opts.file);
      const f = planForecast(plan, opts.rps);
      if (!opts.json) {
        const more = f ? `\n${renderForecast(f).join('\n')}` : '';
        process.stdout.write(`${renderSchedule(plan, opts.rps)}${more}\n\n`);
      }
      if (opts.strict) strictCheck(f);
      await withClient(cmd, async ({ client, namespace }) => {
        if (opts.preflight) {
          const { problems } = await preflightRollout(client, plan);
          if (problems.length > 0) {
            throw new FailedError(
              `not started: the preflight checks found ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n` +
                problems.map((p) => `  - ${p}`).join('\n') +
                // Skipping the checks would only start a rollout that fails on the same problem.
                '\n  Fix them, then start again.',
            );
          }
        }
        const started = await startRollout(client, plan);
        const url = rolloutUrl(uiUrl(), namespace, started.workflowId);
        if (opts.json && !opts.wait) {
          printJson({
            workflowId: started.workflowId,
            runId: started.runId,
            namespace,
            url,
            schedule: scheduleOf(plan, opts.rps),
          });
          return;
        }
        if (!opts.json) {
          process.stdout.write(
            `started ${started.workflowId} (run ${started.runId}) in namespace ${namespace}\n`,
          );
          if (url) process.stdout.write(`  ${url}\n`);
          process.stdout.write(`  follow it: agent-canary status ${plan.agent} --watch\n`);
        }
        if (!opts.wait) return;

        const result = await followUntilDone(
          started.result(),
          () => getStatus(client, plan.agent),
          !opts.json,
        );
        if (opts.json)
          printJson({ workflowId: started.workflowId, runId: started.runId, namespace, url, result });
        else
          process.stdout.write(
            `\n${plan.agent}: ${stateWords(result.state)}, stable is ${result.stable}. ${result.reason}\n`,
          );
        if (result.state !== 'promoted') {
          throw new FailedError(
            `rollout of ${plan.agent} ended ${stateWords(result.state)}: ${result.reason}`,
          );
        }
      });
    });
}

/** A state as the other commands print it: "rolled back", not "rolled_back". */
const stateWords = (state: string) => state.replace(/_/g, ' ');

/** Prints each new decision while waiting for the workflow result. */
async function followUntilDone(
  result: Promise<RolloutResult>,
  status: () => Promise<RolloutStatus>,
  print: boolean,
): Promise<RolloutResult> {
  // Ctrl-C stops following, not the rollout: say so, and how to pick it up again.
  process.once('SIGINT', () => {
    process.stderr.write('\nstopped following; the rollout goes on (agent-canary status <agent> --watch)\n');
    process.exit(130);
  });
  let seen = 0;
  let done = false;
  const finished = result.finally(() => {
    done = true;
  });
  // The lines `dev` and `worker` print for the same events.
  const printNew = (s: RolloutStatus) => {
    if (print) {
      for (const d of s.decisions.slice(seen)) {
        const event = { ...d, agent: s.agent, stable: s.stable, canary: s.canary };
        process.stdout.write(
          `  ${rolloutEventLine({ ...event, stageCount: s.stageCount, workflowId: s.workflowId })}\n`,
        );
      }
    }
    seen = s.decisions.length;
  };
  while (!done) {
    try {
      const s = await status();
      printNew(s);
      if (hasEnded(s)) break;
    } catch {
      // A status query can fail while a worker restarts; the result below is what counts.
    }
    await Promise.race([finished.catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
  }
  // The decisions since the last look, up to the end (a quick rollout ends between two looks).
  await finished.catch(() => undefined);
  await status().then(printNew, () => undefined);
  try {
    return await finished;
  } catch (err) {
    // Say how it ended in the operator's words: the cause, not "Activity task failed".
    const how = err instanceof WorkflowFailedError ? (err.cause?.constructor.name ?? '') : '';
    const state = /Terminated/.test(how)
      ? 'TERMINATED'
      : /Timeout/.test(how)
        ? 'TIMED OUT'
        : /Cancel/.test(how)
          ? 'CANCELLED'
          : 'FAILED';
    throw new FailedError(`${state}: ${innermostMessage(err) ?? (err as Error).message}`);
  }
}

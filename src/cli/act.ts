// The operator commands share one path: validate, send as an Update, print the answer.
import type { Command } from 'commander';
import {
  parseCommandInput,
  sendCommand,
  type Command as Verb,
  type CommandInput,
} from '../temporal/rollouts';
import { formatDuration } from '../plan/duration';
import { parseAgent, printJson, withClient } from './context';

const DONE: Record<Verb, string> = {
  pause: 'paused',
  resume: 'resumed',
  promote: 'promoted',
  abort: 'aborted',
  extend: 'extended',
  dismiss: 'dismissed the failed checks of',
  approve: 'approved the current stage of',
};

export async function act<C extends Verb>(
  cmd: Command,
  agentArg: string,
  verb: C,
  input: CommandInput<C>,
  json: boolean,
): Promise<void> {
  const agent = parseAgent(agentArg);
  parseCommandInput(verb, input);
  await withClient(cmd, async ({ client }) => {
    const s = await sendCommand(client, agent, verb, input);
    if (json) {
      printJson(s);
      return;
    }
    const window = (s.stages[s.stageIndex]?.observeMs ?? 0) + (s.extendedMs ?? 0);
    const observe =
      verb === 'extend' || verb === 'dismiss'
        ? `, stage window ${formatDuration(window)} (${formatDuration(s.remainingMs)} to go)`
        : '';
    process.stdout.write(
      `${DONE[verb]} ${agent}: now ${s.state}, stage ${s.stageIndex + 1}/${s.stageCount}, canary ${s.canaryPercent}%${observe}\n`,
    );
  });
}

import type { Command } from 'commander';
import { startLocalEvaluator } from '../../demo/evaluator';
import { UsageError } from '../errors';

export function register(program: Command): void {
  program
    .command('evaluator')
    .description(
      'a local evaluator speaking the OpenAI chat-completions protocol that grades deterministically (rubric "expect:" lines), for trying evaluate without a model',
    )
    .option('--port <port>', 'port on 127.0.0.1 (0 picks a free one)', '8090')
    .action(async (o: { port: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new UsageError(`--port must be 0-65535, got "${o.port}"`);
      const evaluator = await startLocalEvaluator({ port });
      process.stdout.write(
        `local evaluator on ${evaluator.url} (set evaluate.url to it; it grades, it never calls a model)\n`,
      );
      await new Promise<void>((resolve) => {
        for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => resolve());
      });
      await evaluator.close();
    });
}

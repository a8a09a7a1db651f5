import type { Command } from 'commander';
import { findTemporalCli, TemporalCliNotFoundError } from '../../temporal/cli-finder';
import { FailedError } from '../errors';

export function register(program: Command): void {
  program
    .command('install-temporal')
    .description('find or build the `temporal` CLI (dev server + Web UI) and print its path')
    .action(async () => {
      try {
        process.stdout.write(`${await findTemporalCli()}\n`);
      } catch (err) {
        if (err instanceof TemporalCliNotFoundError) throw new FailedError(err.message);
        throw err;
      }
    });
}

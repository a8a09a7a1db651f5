// agent-canary command line (DESIGN.md §6). Each verb lives in commands/<verb>.ts; errors are
// turned into exit codes and messages here, once.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { addConnectionOptions } from './context';
import { EXIT_OK, reportFor } from './errors';
import * as abort from './commands/abort';
import * as demo from './commands/demo';
import * as dev from './commands/dev';
import * as gateway from './commands/gateway';
import * as installTemporal from './commands/install-temporal';
import * as worker from './commands/worker';
import * as list from './commands/list';
import * as pause from './commands/pause';
import * as promote from './commands/promote';
import * as resume from './commands/resume';
import * as start from './commands/start';
import * as status from './commands/status';
import * as validate from './commands/validate';

const VERBS: { register(program: Command): void }[] = [
  validate,
  start,
  status,
  list,
  pause,
  resume,
  promote,
  abort,
  dev,
  demo,
  worker,
  gateway,
  installTemporal,
];

function packageVersion(): string {
  return (
    JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
  ).version;
}

export function buildProgram(): Command {
  const program = new Command('agent-canary')
    .description('Canary deployments for AI agents, every rollout a durable Temporal workflow')
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  addConnectionOptions(program);
  for (const verb of VERBS) verb.register(program);
  return program;
}

// `agent-canary status --watch | head` closes stdout early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    const report = reportFor(err);
    if (report.exitCode !== EXIT_OK) {
      if (report.message) process.stderr.write(`error: ${report.message}\n`);
      if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(report.json)}\n`);
    }
    return report.exitCode;
  }
}

void main().then((code) => {
  // Let output flush; an explicit exit also ends any lingering gRPC channel.
  process.exitCode = code || process.exitCode || 0;
  setImmediate(() => process.exit(process.exitCode));
});

// agent-canary command line (DESIGN.md §6). Each verb lives in commands/<verb>.ts; errors are
// turned into exit codes and messages here, once.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { addConnectionOptions } from './context';
import { EXIT_OK, reportFor } from './errors';
type Verb = { register(program: Command): void };

/**
 * Verb name -> its module, loaded on demand: `validate` or `status` should not pay for loading the
 * worker, the gateway and the demo (about half of the start-up time).
 */
const VERBS: Record<string, () => Promise<Verb>> = {
  validate: () => import('./commands/validate'),
  start: () => import('./commands/start'),
  status: () => import('./commands/status'),
  list: () => import('./commands/list'),
  pause: () => import('./commands/pause'),
  resume: () => import('./commands/resume'),
  promote: () => import('./commands/promote'),
  abort: () => import('./commands/abort'),
  extend: () => import('./commands/extend'),
  dismiss: () => import('./commands/dismiss'),
  approve: () => import('./commands/approve'),
  retry: () => import('./commands/retry'),
  dev: () => import('./commands/dev'),
  demo: () => import('./commands/demo'),
  worker: () => import('./commands/worker'),
  gateway: () => import('./commands/gateway'),
  'install-temporal': () => import('./commands/install-temporal'),
  ui: () => import('./commands/ui'),
  export: () => import('./commands/export'),
  evaluator: () => import('./commands/evaluator'),
  operator: () => import('./commands/operator'),
};

/** The verbs named on the command line; all of them for help, --version or a typo (so help lists all). */
export async function verbsFor(argv: string[]): Promise<Verb[]> {
  const args = new Set(argv.slice(2));
  const named = Object.keys(VERBS).filter((name) => args.has(name));
  return Promise.all((named.length ? named : Object.keys(VERBS)).map((name) => VERBS[name]()));
}

function packageVersion(): string {
  return (
    JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
  ).version;
}

export function buildProgram(verbs: Verb[]): Command {
  const program = new Command('agent-canary')
    .description('Canary deployments for AI agents, every rollout a durable Temporal workflow')
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  addConnectionOptions(program);
  for (const verb of verbs) verb.register(program);
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
    await buildProgram(await verbsFor(argv)).parseAsync(argv);
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

// Entry of scripts/temporal-postgres.sh: `build` caches temporal-server and temporal-sql-tool,
// `up` runs PostgreSQL and Temporal on it in the foreground until Ctrl-C or SIGTERM.
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { findServerBinaries } from './postgres-binaries';
import { startLocalStack } from './postgres-stack';
import { problemsFromZod } from '../text/zod-problems';

const USAGE = `usage: scripts/temporal-postgres.sh build
       scripts/temporal-postgres.sh up [--state-dir DIR] [--port N] [--postgres-port N] [--namespace NAME]

build   build temporal-server and temporal-sql-tool once into the per-user cache (7 minutes or more)
up      start PostgreSQL (Debian's postgresql package) and Temporal on it; keeps data in --state-dir
        (default ${path.join(os.tmpdir(), 'agent-canary-temporal-postgres')}), port 7233 by default`;

const Port = z.coerce.number().int('must be a whole number').min(0).max(65535, 'must be 0-65535');
const UpFlags = z
  .object({
    'state-dir': z.string().min(1).default(path.join(os.tmpdir(), 'agent-canary-temporal-postgres')),
    port: Port.default(7233),
    'postgres-port': Port.default(0),
    namespace: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, 'letters, digits, ".", "_" and "-" only')
      .default('default'),
  })
  .strict();

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'build') {
    const b = await findServerBinaries({ log });
    process.stdout.write(`TEMPORAL_SERVER_PATH=${b.server}\nTEMPORAL_SQL_TOOL_PATH=${b.sqlTool}\n`);
    return 0;
  }
  if (command !== 'up') {
    process.stderr.write(`${USAGE}\n`);
    return command === undefined || command === '--help' || command === '-h' ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      'state-dir': { type: 'string' },
      port: { type: 'string' },
      'postgres-port': { type: 'string' },
      namespace: { type: 'string' },
    },
    strict: true,
  });
  const parsed = UpFlags.safeParse(values);
  if (!parsed.success) {
    const why = problemsFromZod(parsed.error)
      .map((p) => `--${p.field}: ${p.message}`)
      .join('; ');
    process.stderr.write(`${why}\n${USAGE}\n`);
    return 2;
  }
  const flags = parsed.data;
  const stack = await startLocalStack({
    stateDir: flags['state-dir'],
    port: flags.port,
    postgresPort: flags['postgres-port'],
    namespace: flags.namespace,
    log,
  });
  process.stdout.write(
    `TEMPORAL_ADDRESS=${stack.address}\nTEMPORAL_NAMESPACE=${stack.namespace}\n` +
      `# PostgreSQL on ${stack.postgres.host}:${stack.postgres.port}; Ctrl-C stops both\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  log('stopping Temporal and PostgreSQL');
  await stack.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    // Our own errors already say what to fix; a stack trace would bury it.
    process.stderr.write(`temporal-postgres: ${err.message}\n`);
    process.exit(1);
  },
);

// Runs a private PostgreSQL cluster (Debian's packaged server) for a local Temporal: its own data
// folder, a TCP port on 127.0.0.1 only, no Unix socket, and a `temporal` role for the server.
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, constants as fsc } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Log } from './cli-finder';
import { freePort } from './devserver';
import { runTool } from './postgres-binaries';

export interface PostgresOptions {
  /** The cluster's folder; created (initdb) when it holds no cluster yet, reused otherwise. */
  dataDir: string;
  /** 0/undefined picks a free port. */
  port?: number;
  /** Role the Temporal server logs in as (created with CREATEDB if missing). */
  user?: string;
  password?: string;
  log?: Log;
  startTimeoutMs?: number;
}

export interface RunningPostgres {
  host: string;
  port: number;
  user: string;
  password: string;
  pid: number;
  stop(): Promise<void>;
}

export class PostgresNotFoundError extends Error {
  override name = 'PostgresNotFoundError';
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fsc.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Debian keeps initdb and postgres off PATH, under /usr/lib/postgresql/<major>/bin: newest first. */
export async function findPostgresBin(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const root = '/usr/lib/postgresql';
  const majors = await fs.readdir(root).catch(() => [] as string[]);
  majors.sort((a, b) => Number(b) - Number(a));
  if (env.PG_BINDIR) dirs.unshift(env.PG_BINDIR);
  dirs.push(...majors.map((m) => path.join(root, m, 'bin')));
  for (const dir of dirs) {
    if (await isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  throw new PostgresNotFoundError(
    `no PostgreSQL \`${name}\` on PATH or under ${root}. Fix: apt-get install postgresql (or set PG_BINDIR)`,
  );
}

/** PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` account. */
function asServerUser(cmd: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [cmd, args];
  return ['runuser', ['-u', 'postgres', '--', cmd, ...args]];
}

async function prepareDataDir(dataDir: string, initdb: string, log: Log): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (process.getuid?.() === 0) {
    const { uid, gid } = await postgresAccount();
    await fs.chown(dataDir, uid, gid);
    // The account must reach the folder through every parent (mkdtemp and /root are 0700).
    for (let dir = path.dirname(dataDir); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const mode = (await fs.stat(dir)).mode;
      if ((mode & 0o001) === 0)
        throw new Error(
          `PostgreSQL runs as the postgres account here, which cannot enter ${dir} (mode ${(mode & 0o777).toString(8)}). Fix: choose a data folder under ${os.tmpdir()} or chmod o+x ${dir}`,
        );
    }
  }
  try {
    await fs.access(path.join(dataDir, 'PG_VERSION'));
    return; // an existing cluster: keep its data
  } catch {
    /* none yet */
  }
  log(`postgres: initdb ${dataDir}`);
  const [cmd, args] = asServerUser(initdb, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
  await runTool(cmd, args, { timeoutMs: 120_000 });
}

async function postgresAccount(): Promise<{ uid: number; gid: number }> {
  const passwd = await fs.readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((l) => l.startsWith('postgres:'));
  if (!line)
    throw new PostgresNotFoundError(
      'running as root but there is no `postgres` account. Fix: apt-get install postgresql',
    );
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

const sqlLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

async function waitForSql(psql: string, port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`postgres exited with code ${child.exitCode}`);
    try {
      await runTool(psql, [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        'postgres',
        '-Atc',
        'SELECT 1',
      ]);
      return;
    } catch (err) {
      last = (err as Error).message;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`PostgreSQL on 127.0.0.1:${port} did not answer within ${timeoutMs}ms: ${last}`);
}

/** Starts the cluster as a child process (its own process group) and waits until it takes queries. */
export async function startPostgres(options: PostgresOptions): Promise<RunningPostgres> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const user = options.user ?? 'temporal';
  const password = options.password ?? 'temporal';
  if (!ROLE_NAME.test(user)) throw new Error(`user: "${user}" is not a plain PostgreSQL role name`);
  const [postgres, initdb, psql] = await Promise.all(
    ['postgres', 'initdb', 'psql'].map((n) => findPostgresBin(n)),
  );
  const dataDir = path.resolve(options.dataDir);
  await prepareDataDir(dataDir, initdb, log);
  const port = options.port || (await freePort());

  const logPath = path.join(path.dirname(dataDir), `postgres-${path.basename(dataDir)}.log`);
  const logFile = await fs.open(logPath, 'a');
  const [cmd, args] = asServerUser(postgres, [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=', // empty: TCP only, no socket file to place or clean up
  ]);
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', logFile.fd, logFile.fd] });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const reaper = spawn(
    process.execPath,
    [path.join(__dirname, '..', '..', 'bin', 'reaper.js'), String(process.pid), String(child.pid)],
    { detached: true, stdio: 'ignore' },
  );
  reaper.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        // SIGINT to the postmaster is PostgreSQL's "fast" shutdown: clients cut off, data flushed.
        if (!(await signalPostmaster(dataDir, 'SIGINT'))) killGroup(child, 'SIGINT');
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      killPid(reaper.pid, 'SIGTERM');
      await logFile.close();
    })());

  try {
    await waitForSql(psql, port, child, options.startTimeoutMs ?? 60_000).catch((err: Error) => {
      throw new Error(`${err.message} (server log: ${logPath})`);
    });
    await runTool(psql, [
      ...[
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        'postgres',
        '-v',
        'ON_ERROR_STOP=1',
        '-Atc',
      ],
      `DO $$ BEGIN
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${sqlLiteral(user)}) THEN
           CREATE ROLE ${user} LOGIN CREATEDB PASSWORD ${sqlLiteral(password)};
         END IF;
       END $$`,
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  log(`postgres: serving on 127.0.0.1:${port} (data in ${dataDir})`);
  return { host: '127.0.0.1', port, user, password, pid: child.pid!, stop };
}

/** False when there is no postmaster.pid to read (not started yet, or gone). */
async function signalPostmaster(dataDir: string, signal: NodeJS.Signals): Promise<boolean> {
  try {
    const pid = Number((await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return false;
    killPid(pid, signal);
    return true;
  } catch {
    return false;
  }
}

function killPid(pid: number | undefined, signal: NodeJS.Signals): void {
  try {
    if (pid) process.kill(pid, signal);
  } catch {
    /* gone */
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    /* gone */
  }
}

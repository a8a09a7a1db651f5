// Finds or builds the Temporal server and its SQL schema tool, the two binaries a PostgreSQL-backed
// Temporal needs. Temporal publishes them only as release archives and images; this machine class
// reaches package registries alone, and the Go module proxy has the server's source.
import { execFile, spawn } from 'node:child_process';
import { promises as fs, constants as fsc } from 'node:fs';
import path from 'node:path';
import { cacheDir, type Log } from './cli-finder';

/** The server inside the Temporal CLI build we use for development (cli-finder.ts). */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const MODULE = 'go.temporal.io/server';
/** Both main packages are called `server`/`sql`: each is renamed before it reaches the cache. */
const PACKAGES = [
  { pkg: `${MODULE}/cmd/server`, built: 'server', name: 'temporal-server' },
  { pkg: `${MODULE}/cmd/tools/sql`, built: 'sql', name: 'temporal-sql-tool' },
] as const;

export interface ServerBinaries {
  server: string;
  sqlTool: string;
  version: string;
}

export interface BinaryOptions {
  log?: Log;
  env?: NodeJS.ProcessEnv;
  /** Report absence instead of building (minutes). */
  noBuild?: boolean;
}

export class TemporalServerNotFoundError extends Error {
  override name = 'TemporalServerNotFoundError';
}

export const serverCacheDir = (env?: NodeJS.ProcessEnv): string =>
  path.join(cacheDir(env), `temporal-server-${TEMPORAL_SERVER_VERSION}`);

const stderrLog: Log = (line) => process.stderr.write(line + '\n');

/** Runs a program to completion; the error carries the last lines of its output, never all of it. */
export function runTool(
  file: string,
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: opts.timeoutMs ?? 60_000, env: opts.env ?? process.env, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout.trim());
        const tail = `${stderr}\n${stdout}`.trim().split('\n').slice(-4).join(' | ');
        reject(new Error(`${path.basename(file)} ${args[0] ?? ''} failed: ${tail || err.message}`));
      },
    );
  });
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fsc.X_OK);
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

async function onPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && (await isExecutable(path.join(dir, name)))) return path.join(dir, name);
  }
  return undefined;
}

/** `temporal-server --version` prints e.g. "temporal version 1.29.1"; anything else is not ours. */
async function serverVersion(file: string): Promise<string> {
  const out = await runTool(file, ['--version'], { timeoutMs: 30_000 });
  const m = /version\s+v?(\d+\.\d+\.\d+)/.exec(out);
  if (!m) throw new Error(`"${file} --version" printed "${out.slice(0, 200)}", not a Temporal server`);
  return m[1];
}

async function cached(env: NodeJS.ProcessEnv): Promise<ServerBinaries | undefined> {
  const dir = serverCacheDir(env);
  const server = path.join(dir, 'temporal-server');
  const sqlTool = path.join(dir, 'temporal-sql-tool');
  if (!(await isExecutable(server)) || !(await isExecutable(sqlTool))) return undefined;
  return { server, sqlTool, version: await serverVersion(server) };
}

async function goBuild(log: Log, env: NodeJS.ProcessEnv, go: string): Promise<ServerBinaries> {
  const dir = serverCacheDir(env);
  await fs.mkdir(dir, { recursive: true });
  // A private GOBIN: a half-built binary, or another main package named `server`, never lands in the cache.
  const staging = await fs.mkdtemp(path.join(dir, 'build-'));
  const targets = PACKAGES.map((p) => `${p.pkg}@${TEMPORAL_SERVER_VERSION}`);
  log(`temporal-server: building ${targets.join(' ')} with ${go} (first time only; 7 minutes or more)`);
  const started = Date.now();
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`;
  const ticker = setInterval(() => log(`temporal-server: still building... ${elapsed()}`), 30_000);
  // Lowest priority and one package at a time: the build shares the machine with running tests.
  const nice = await onPath('nice', env);
  const [cmd, args] = nice ? [nice, ['-n', '19', go, 'install', ...targets]] : [go, ['install', ...targets]];
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(cmd, args, {
        env: {
          ...env,
          GOBIN: staging,
          GOFLAGS: env.AGENT_CANARY_GOFLAGS ?? '-p=1',
          CGO_ENABLED: env.CGO_ENABLED ?? '0',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let tail = '';
      child.stderr.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-4000)));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0
          ? resolve()
          : reject(new Error(`go install exited ${code}: ${tail.trim().split('\n').slice(-5).join(' | ')}`)),
      );
    });
    // The tool first, the server last: the server's presence is what marks the cache complete.
    for (const p of [...PACKAGES].reverse()) {
      await fs.rename(path.join(staging, p.built), path.join(dir, p.name));
    }
    const found = await cached(env);
    if (!found) throw new Error(`the build left no binaries in ${dir}`);
    log(`temporal-server: built ${found.version} in ${elapsed()}, cached in ${dir}`);
    return found;
  } finally {
    clearInterval(ticker);
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/**
 * Returns `temporal-server` and `temporal-sql-tool`: TEMPORAL_SERVER_PATH and TEMPORAL_SQL_TOOL_PATH
 * when both are set (a team's own build), else the per-user cache, else a Go build into the cache.
 */
export async function findServerBinaries(options: BinaryOptions = {}): Promise<ServerBinaries> {
  const log = options.log ?? stderrLog;
  const env = options.env ?? process.env;
  if (env.TEMPORAL_SERVER_PATH || env.TEMPORAL_SQL_TOOL_PATH) {
    const server = env.TEMPORAL_SERVER_PATH;
    const sqlTool = env.TEMPORAL_SQL_TOOL_PATH;
    if (!server || !sqlTool)
      throw new TemporalServerNotFoundError(
        'set both TEMPORAL_SERVER_PATH and TEMPORAL_SQL_TOOL_PATH, or neither',
      );
    const version = await serverVersion(server).catch((err: Error) => {
      throw new TemporalServerNotFoundError(`TEMPORAL_SERVER_PATH=${server}: ${err.message}`);
    });
    log(`temporal-server: using ${server} (TEMPORAL_SERVER_PATH; ${version})`);
    return { server, sqlTool, version };
  }
  const fromCache = await cached(env).catch((err: Error) => {
    log(`temporal-server: cached build does not work (${err.message}); building again`);
    return undefined;
  });
  if (fromCache) {
    log(`temporal-server: using ${fromCache.server} (cached build; ${fromCache.version})`);
    return fromCache;
  }
  const hint = `Fix: install Go (https://go.dev/dl) or set TEMPORAL_SERVER_PATH and TEMPORAL_SQL_TOOL_PATH`;
  if (options.noBuild)
    throw new TemporalServerNotFoundError(`no cached Temporal server in ${serverCacheDir(env)}. ${hint}`);
  const go = await onPath('go', env);
  if (!go) throw new TemporalServerNotFoundError(`no \`go\` on PATH to build the Temporal server. ${hint}`);
  return goBuild(log, env, go);
}
